#include "err.h"

#include <string.h>

const char *kms_strerror(int err)
{
    switch (err) {
    case KMS_OK: return "success";
    case KMS_EINVAL: return "invalid argument";
    case KMS_ETRUNC: return "input truncated";
    case KMS_ETRAILING: return "unexpected trailing bytes";
    case KMS_ENOSPC: return "output buffer too small";
    case KMS_ENOTFOUND: return "not found";
    case KMS_ERANGE: return "value out of range";
    case KMS_ERPC_VERSION: return "RPC: unsupported protocol version";
    case KMS_ERPC_DREP: return "RPC: unsupported data representation";
    case KMS_ERPC_AUTH: return "RPC: authentication not supported";
    case KMS_ERPC_FRAGLEN: return "RPC: inconsistent fragment length";
    case KMS_ERPC_TOOBIG: return "RPC: PDU too large";
    case KMS_ERPC_PTYPE: return "RPC: unexpected PDU type";
    case KMS_ERPC_FRAG: return "RPC: broken fragment sequence";
    case KMS_ERPC_COUNT: return "RPC: too many elements";
    case KMS_ENDR: return "NDR: malformed stub";
    case KMS_EVERSION: return "KMS: unsupported protocol version";
    case KMS_EPADDING: return "KMS: invalid padding";
    case KMS_ELENGTH: return "KMS: wrong message length";
    case KMS_EV_VERSION: return "verify: response version mismatch";
    case KMS_EV_LENGTH: return "verify: response length mismatch";
    case KMS_EV_EPID: return "verify: malformed ePID";
    case KMS_EV_CMID: return "verify: client machine id mismatch";
    case KMS_EV_TIME: return "verify: response time mismatch";
    case KMS_EV_HASH: return "verify: V4 hash mismatch";
    case KMS_EV_DECRYPT: return "verify: decryption failed";
    case KMS_EV_SALT: return "verify: salt hash mismatch";
    case KMS_EV_IV: return "verify: response IV invalid";
    case KMS_EV_XORSALT: return "verify: xorSalts mismatch";
    case KMS_EV_HMAC: return "verify: HMAC mismatch";
    case KMS_ECRYPTO: return "crypto backend failure";
    case KMS_ERPC_NOCTX: return "RPC: no presentation context accepted";
    case KMS_ENOMEM: return "out of memory";
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
