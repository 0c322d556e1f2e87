/*
 * kms_limits — every size limit of the protocol core, named in one place.
 *
 * Each limit has a test at limit-1, limit and limit+1 (tests/common). Limits that the network can reach
 * also get an integration case once the daemon exists. Values are chosen well above anything a real
 * client sends (KMS PDUs are at most a few hundred bytes) and far below anything that costs memory.
 */
#ifndef KMSD_KMS_LIMITS_H
#define KMSD_KMS_LIMITS_H

/* Largest DCE/RPC PDU (frag_length) accepted from a peer. Windows offers max_xmit_frag 5840. */
#define KMS_LIMIT_PDU_MAX 5840u
/* Smallest possible PDU: the 16-byte common header. */
#define KMS_LIMIT_PDU_MIN 16u
/* Largest REQUEST stub after fragment reassembly (a KMS request stub is 260..276 bytes). */
#define KMS_LIMIT_REQUEST_STUB_MAX 4096u
/* Context elements accepted in one BIND / ALTER_CONTEXT (Windows sends 3). */
#define KMS_LIMIT_BIND_CONTEXTS 16u
/* Transfer syntaxes accepted in one context element (KMS clients send 1). */
#define KMS_LIMIT_TRANSFER_SYNTAXES 4u
/* Presentation contexts remembered per association (BIND plus every ALTER_CONTEXT). */
#define KMS_LIMIT_ASSOC_CONTEXTS 16u
/* Secondary address string in BIND_ACK, including its NUL ("65535\0" is 6). */
#define KMS_LIMIT_SEC_ADDR 32u
/* Protocol versions listed in a BIND_NAK (a server lists only 5.0). */
#define KMS_LIMIT_NAK_VERSIONS 8u
/* Largest KMS message either side decodes (V5/V6 request 260; Wine may append a few bytes). */
#define KMS_LIMIT_KMS_MESSAGE_MAX 1024u

#endif
