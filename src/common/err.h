/*
 * err — error codes of the protocol core.
 *
 * Every function in src/common returns int: 0 on success or one of the negative codes below
 * (a -errno value may pass through from callers outside the core). HRESULTs are protocol
 * data and never appear here. kms_strerror() never returns NULL.
 */
#ifndef KMSD_ERR_H
#define KMSD_ERR_H

enum kms_err {
    KMS_OK = 0,

    /* generic */
    KMS_EINVAL = -1000,  /* bad argument or unparsable text */
    KMS_ETRUNC,          /* input ends before the structure does */
    KMS_ETRAILING,       /* bytes left over after a complete structure */
    KMS_ENOSPC,          /* output buffer too small */
    KMS_ENOTFOUND,       /* lookup found nothing */
    KMS_ERANGE,          /* value outside its allowed range */

    /* DCE/RPC */
    KMS_ERPC_VERSION,    /* rpc_vers != 5 or rpc_vers_minor != 0 */
    KMS_ERPC_DREP,       /* data representation other than 10 00 00 00 */
    KMS_ERPC_AUTH,       /* auth_length != 0 */
    KMS_ERPC_FRAGLEN,    /* frag_length inconsistent with the bytes or the PDU type */
    KMS_ERPC_TOOBIG,     /* PDU or reassembled stub above its named limit */
    KMS_ERPC_PTYPE,      /* PDU type not handled */
    KMS_ERPC_FRAG,       /* fragment sequence broken (missing FIRST, call_id change) */
    KMS_ERPC_COUNT,      /* too many context elements, transfer syntaxes or results */

    /* NDR */
    KMS_ENDR,            /* stub malformed (sizes disagree, pointer form wrong) */

    /* KMS message decode (server side maps all of these to 0x8007000D) */
    KMS_EVERSION,        /* unsupported KMS protocol version (major not 4/5/6 or minor != 0) */
    KMS_EPADDING,        /* PKCS#7 padding invalid after decryption */
    KMS_ELENGTH,         /* KMS message length wrong for its version */

    /* client-side verification of a response (protocol.md 4.6), one code per check */
    KMS_EV_VERSION,      /* response version differs from the request's */
    KMS_EV_LENGTH,       /* response length differs from the one computed from epidLength */
    KMS_EV_EPID,         /* epidLength or ePID text malformed */
    KMS_EV_CMID,         /* clientMachineId differs from the request's */
    KMS_EV_TIME,         /* responseTime differs from requestTime */
    KMS_EV_HASH,         /* V4 hash mismatch */
    KMS_EV_DECRYPT,      /* V5/V6 decryption failed (padding) */
    KMS_EV_SALT,         /* SHA-256 of the recovered random salt mismatch */
    KMS_EV_IV,           /* V5: IV differs from the request IV; V6: IV equals the request IV */
    KMS_EV_XORSALT,      /* V6 xorSalts differ from D(IV_req) */
    KMS_EV_HMAC,         /* V6 HMAC mismatch */

    /* crypto backend */
    KMS_ECRYPTO,         /* the random source failed */

    /* DCE/RPC, client side */
    KMS_ERPC_NOCTX,      /* the server accepted no usable presentation context */

    /* resources */
    KMS_ENOMEM,          /* an allocation failed */
};

/* Human-readable text for a code above (or a -errno). Never NULL; static storage. */
const char *kms_strerror(int err);

#endif
