#!/usr/bin/env python3
# Prints the AES S-boxes and 32-bit round tables as C (src/common/kms_aes_tables.inc), computed from
# GF(2^8) arithmetic per FIPS-197 5.1.1 and 5.3.2. Usage: scripts/gen_aes_tables.py > src/common/kms_aes_tables.inc
def xt(a):
    a <<= 1
    return (a ^ 0x11b) if a & 0x100 else a
def mul(a, b):
    r = 0
    while b:
        if b & 1: r ^= a
        a = xt(a); b >>= 1
    return r
def inv(a):
    if a == 0: return 0
    for b in range(1, 256):
        if mul(a, b) == 1: return b
def sbox(x):
    b = inv(x); r = b
    for i in range(1, 5):
        r ^= ((b << i) | (b >> (8 - i))) & 0xff
    return r ^ 0x63
S = [sbox(x) for x in range(256)]
IS = [0]*256
for i, s in enumerate(S): IS[s] = i
def ror(w, n): return ((w >> n) | (w << (32 - n))) & 0xffffffff
Te0 = [(mul(s,2)<<24)|(s<<16)|(s<<8)|mul(s,3) for s in S]
Td0 = [(mul(s,14)<<24)|(mul(s,9)<<16)|(mul(s,13)<<8)|mul(s,11) for s in IS]
def arr8(name, v):
    out = "static const uint8_t %s[256] = {\n" % name
    for i in range(0, 256, 16):
        out += "    " + ", ".join("0x%02x" % x for x in v[i:i+16]) + ",\n"
    return out + "};\n"
def arr32(name, v):
    out = "static const uint32_t %s[256] = {\n" % name
    for i in range(0, 256, 8):
        out += "    " + ", ".join("0x%08x" % x for x in v[i:i+8]) + ",\n"
    return out + "};\n"
print(arr8("sbox", S)); print(arr8("inv_sbox", IS))
for k in range(4):
    print(arr32("te%d" % k, [ror(w, 8*k) for w in Te0]))
for k in range(4):
    print(arr32("td%d" % k, [ror(w, 8*k) for w in Td0]))
