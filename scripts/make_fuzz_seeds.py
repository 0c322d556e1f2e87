#!/usr/bin/env python3
"""Writes the fuzz seed corpora fuzz/corpus/<target>/ from the committed fixtures.

Usage: scripts/make_fuzz_seeds.py [OUTDIR]   (default: fuzz/corpus next to this script's parent)

Sources: tests/fixtures/vectors/*.json (recorded sessions), tests/fixtures/kat/{rpc,exchanges}.json and
packaging/kmsd.conf.example. Only a fixed, deterministic subset of the vector files is used, so the corpus
stays small; every seed is named by the SHA-1 of its contents (seed-<sha1>), so reruns give identical files
and duplicates collapse. Files whose names do not start with "seed-" (regression inputs) are left alone.
The input layouts are those described at the top of each fuzz/fuzz_<target>.c.
"""
import glob
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ("rpc", "session", "kms_request", "kms_response", "config")


def vector_files():
    """Every odd_* and multi-request vector, and every tenth of the rest (sorted)."""
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "vectors", "*.json")))
    chosen = []
    plain = 0
    for f in files:
        base = os.path.basename(f)
        if base.startswith("odd_") or "_n2" in base or "_N0B0" in base or base.endswith("_p.json"):
            chosen.append(f)
        else:
            if plain % 10 == 0:
                chosen.append(f)
            plain += 1
    return chosen


def request_stub(pdu):
    """The stub of a REQUEST PDU (header 16, alloc_hint 4, ctx_id 2, opnum 2, object uuid if flagged)."""
    off = 24 + (16 if pdu[3] & 0x80 else 0)
    return pdu[off:]


def response_stub(pdu):
    return pdu[24:]


def ndr_request_msg(stub, ndr64):
    if ndr64:
        (n,) = struct.unpack_from("<I", stub, 0)
        return stub[16:16 + n]
    (n,) = struct.unpack_from("<I", stub, 0)
    return stub[8:8 + n]


def ndr_response_msg(stub, ndr64):
    """The KMS message of a success-form response stub, or None for the error form."""
    if ndr64:
        (n,) = struct.unpack_from("<I", stub, 0)
        (ref,) = struct.unpack_from("<Q", stub, 8)
        return stub[24:24 + n] if ref else None
    n, ref = struct.unpack_from("<II", stub, 0)
    return stub[12:12 + n] if ref else None


def ptype(pdu):
    return pdu[2]


class Corpus:
    def __init__(self, outdir):
        self.outdir = outdir
        self.seeds = {t: {} for t in TARGETS}

    def add(self, target, data):
        self.seeds[target][hashlib.sha1(data).hexdigest()] = bytes(data)

    def write(self):
        total = 0
        for t in TARGETS:
            d = os.path.join(self.outdir, t)
            os.makedirs(d, exist_ok=True)
            for old in glob.glob(os.path.join(d, "seed-*")):
                os.remove(old)
            for h, data in sorted(self.seeds[t].items()):
                with open(os.path.join(d, "seed-" + h), "wb") as f:
                    f.write(data)
                total += len(data)
            print(f"{t}: {len(self.seeds[t])} seeds")
        print(f"total {sum(len(s) for s in self.seeds.values())} seeds, {total} bytes")


def version_selector(msg):
    """fuzz_kms_response's request selector for a message's major version."""
    major = struct.unpack_from("<H", msg, 2)[0] if len(msg) >= 4 else 6
    return {4: 0, 5: 1}.get(major, 2)


def add_vectors(c):
    for path in vector_files():
        with open(path) as f:
            v = json.load(f)
        ndr64_host = v.get("server") == "vlmcsd"
        c2s = []
        for p in v["pdus"]:
            pdu = bytes.fromhex(p["hex"])
            c.add("rpc", pdu)
            syntax = p.get("decoded", {}).get("syntax", "NDR32")
            ndr64 = syntax == "NDR64"
            if p["dir"] == "c2s":
                c2s.append(pdu)
                if ptype(pdu) == 0:
                    msg = ndr_request_msg(request_stub(pdu), ndr64)
                    c.add("kms_request", msg)
            elif ptype(pdu) == 2:
                stub = response_stub(pdu)
                sel = 4 | (8 if ndr64 else 0)
                msg = ndr_response_msg(stub, ndr64)
                sel |= version_selector(msg) if msg else 2
                c.add("kms_response", bytes([sel]) + stub)
                if msg:
                    c.add("kms_response", bytes([version_selector(msg)]) + msg)
        stream = b"".join(c2s)
        # Options as the recorded host: NDR64 on for vlmcsd, BTFN on, cap 64 (0xf0 -> 16), policy count.
        opt = (1 if ndr64_host else 0) | 2 | 0xF0
        c.add("session", bytes([opt, 0]) + stream)
        c.add("session", bytes([opt | 8, 7]) + stream + stream)  # the conversation twice, genuine count 7


def add_kats(c):
    kat = os.path.join(ROOT, "tests", "fixtures", "kat")
    with open(os.path.join(kat, "rpc.json")) as f:
        rpc = json.load(f)
    for case in rpc["cases"].values():
        for key, val in case.items():
            if key.endswith("_pdu") and all(ch in "0123456789abcdef" for ch in val):
                c.add("rpc", bytes.fromhex(val))
    with open(os.path.join(kat, "exchanges.json")) as f:
        ex = json.load(f)
    bind = bytes.fromhex(rpc["cases"]["ndr32_ndr64_btfn"]["bind_pdu"])
    for sel, name in enumerate(("v4", "v5", "v6")):
        e = ex["exchanges"][name]
        req = bytes.fromhex(e["kms_request"])
        resp = bytes.fromhex(e["kms_response"])
        c.add("kms_request", req)
        c.add("kms_response", bytes([sel]) + resp)
        for ndr64 in (False, True):
            sfx = "ndr64" if ndr64 else "ndr32"
            c.add("rpc", bytes.fromhex(e["rpc_request_pdu_" + sfx]))
            rpdu = bytes.fromhex(e["rpc_response_pdu_" + sfx])
            c.add("rpc", rpdu)
            c.add("kms_response", bytes([sel | 4 | (8 if ndr64 else 0)]) + response_stub(rpdu))
        # A session: bind, then the NDR32 request; and one with the request split in two fragments.
        c.add("session", bytes([0x03 | 0xF0, 0]) + bind + bytes.fromhex(e["rpc_request_pdu_ndr32"]))
        c.add("session", bytes([0x03 | 0xF0, 0]) + bind + fragments(bytes.fromhex(e["rpc_request_pdu_ndr32"])))


def fragments(pdu):
    """A single-fragment REQUEST split into FIRST and LAST fragments at the middle of its stub."""
    head, stub = pdu[:24], pdu[24:]
    half = len(stub) // 2
    out = b""
    for flags, part in ((0x01, stub[:half]), (0x02, stub[half:])):
        frag = bytearray(head + part)
        frag[3] = flags
        struct.pack_into("<H", frag, 8, len(frag))
        struct.pack_into("<I", frag, 16, len(part))
        out += bytes(frag)
    return out


def add_config(c):
    with open(os.path.join(ROOT, "packaging", "kmsd.conf.example"), "rb") as f:
        example = f.read()
    c.add("config", example)
    # The example with every commented-out key switched on.
    active = b"\n".join(line[2:] if line.startswith(b"# ") and b"=" in line else line
                        for line in example.split(b"\n"))
    c.add("config", active)
    c.add("config", b"")
    c.add("config", b"port = 1688\nndr64 = no\nbtfn = off\n")
    c.add("config", b"[kmsd]\nlisten = 127.0.0.1:1688\nlisten = [::1]:1688\nlisten = *:16880\n")
    c.add("config", b"[kmsd]\nidle-timeout = 5m\nactivation-interval = 2h\nrenewal-interval = 1w\n")
    c.add("config", b"[kmsd]\nclient-count = 50\nallow-low-count = true\ncount-mode = genuine\ncount-floor = 25\n")
    c.add("config", b"[kmsd]\nhwid = 364F463A8863D35F\nlcid = 1033\nhost-build = 17763\n")
    c.add("config", b"epid = win2019=03612-00206-551-084401-03-1033-17763.0000-0082024\n")
    c.add("config", b"[kmsd]\nmax-pdu = 256\nmax-conn-buffer = 1024\nmax-requests = 1\nmax-connections = 1\n")
    c.add("config", b"[kmsd]\ndb = none\nlog-level = debug\nsyslog = 1\nstate-dir = /tmp/kmsd\n")
    c.add("config", b"[other]\nport = 1\n")
    c.add("config", b"port = 99999\n")
    c.add("config", b"no-ndr64 = true\n")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus")
    c = Corpus(outdir)
    add_vectors(c)
    add_kats(c)
    add_config(c)
    c.write()


if __name__ == "__main__":
    main()
