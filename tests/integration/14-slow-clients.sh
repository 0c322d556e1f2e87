#!/usr/bin/env bash
# A slow-client wave and a connection flood must not stop a legitimate client being served promptly.
# kmsc activates in a bounded loop from 127.0.0.1 while
#   wave:  300 connections from 150 other loopback addresses trickle a BIND one byte every 200 ms
#          (reconnecting when kmsd closes them: --pdu-timeout 3s cuts each after 3 s);
#   flood: 2 threads from 127.0.0.2 open connections as fast as they can and hold them (the per-address cap,
#          64, refuses the rest) while 2 more from 40 addresses connect-and-close in a loop.
# The attackers run in their own process at nice 10: they stand for remote machines, and on this 2-core box
# an attacker at kmsd's priority would mostly measure the scheduler.
# Bound: the p99 of the legitimate activations (each a fresh kmsc process: exec, connect, BIND, request,
# verify) stays under 2 s during each attack, with no failure; the attack-free baseline is printed too. Why
# 2 s: it is a fifth of kmsc's reply timeout and below the 3 s a client loses when its SYN is dropped twice
# (a full listen queue), while leaving room for this shared 2-core machine, where the suite measured p99s of
# 30-400 ms under attack and single outliers of 1.3 s from scheduling alone (load average 8). A kmsd whose
# loop the attack starved, or whose caps the attackers filled, fails by seconds or with refused clients.
# The bound is 2 s plus the idle p99 measured first, so that a sanitizer build (an idle activation there takes
# 0.4-0.8 s, mostly kmsc starting) is held to the same margin.
# kmsd runs with its default caps (4096 connections, 64 per address): the 42 attacking addresses can hold at
# most 42 x 64 = 2688, so the global cap is not what protects the client here; see docs/security.md.
. "$(dirname "$0")/lib.sh"

# The attackers stand in for remote machines from 127.0.0.x: --limit-private gives them the limits a remote
# address gets.
start_kmsd --pdu-timeout 3s --no-db --limit-private
"$PYTHON" - "$SOURCE_ROOT" "$PORT" "$KMSC" <<'PY' || fail "legitimate clients were not served promptly under attack"
import multiprocessing, os, subprocess, sys, threading, time
sys.path.insert(0, sys.argv[1] + "/tests/integration")
import kmsproto
port, kmsc = int(sys.argv[2]), sys.argv[3]
BIND = kmsproto.bind_pdu()
BOUND_MS = 2000.0

def legit(n):
    times, bad = [], 0
    for _ in range(n):
        t0 = time.monotonic()
        r = subprocess.run([kmsc, "-q", "--timeout", "10", "127.0.0.1:%d" % port])
        times.append((time.monotonic() - t0) * 1000)
        bad += r.returncode != 0
        time.sleep(0.02)
    times.sort()
    return times[min(len(times) - 1, int(0.99 * len(times)))], times[len(times) // 2], bad

def wave(stop, i):  # 300 trickling connections from 150 addresses
    socks = {}
    while not stop.is_set():
        for slot in range(300):
            if slot not in socks:
                try:
                    socks[slot] = [kmsproto.connect("127.0.0.1", port, 2, src="127.0.0.%d" % (2 + slot // 2)), 0]
                except OSError:
                    continue
            s, off = socks[slot]
            try:
                s.send(BIND[off % len(BIND):off % len(BIND) + 1])
                socks[slot][1] += 1
            except OSError:
                s.close()
                del socks[slot]
        stop.wait(0.2)
    for s, _ in socks.values():
        s.close()

def flood(stop, i):
    held, n = [], 0
    while not stop.is_set():
        try:
            if i < 2:  # hold as many as it can from one address (the per-address cap refuses the rest)
                if len(held) < 300:
                    held.append(kmsproto.connect("127.0.0.1", port, 2, src="127.0.0.2"))
                else:
                    stop.wait(0.05)
            else:  # connect and close in a loop from 40 addresses
                n += 1
                kmsproto.connect("127.0.0.1", port, 2, src="127.0.0.%d" % (10 + n % 40)).close()
        except OSError:
            stop.wait(0.01)
    for s in held:
        s.close()

def attacker(kind, threads, stop):
    os.nice(10)  # the attackers stand for remote machines: they must not simply take kmsd's CPU on this box
    ts = [threading.Thread(target=kind, args=(stop, i)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()

def phase(name, kind, threads, n=100):
    stop = multiprocessing.Event()
    p = multiprocessing.Process(target=attacker, args=(kind, threads, stop))
    p.start()
    time.sleep(1.0)  # let the attack build up
    p99, p50, bad = legit(n)
    stop.set()
    p.join(30)
    print("%-8s activations %d, failed %d, p50 %.1f ms, p99 %.1f ms (bound %.0f ms)" % (name, n, bad, p50, p99, BOUND_MS))
    return p99, bad

p99, p50, bad0 = legit(50)
print("baseline activations 50, failed %d, p50 %.1f ms, p99 %.1f ms" % (bad0, p50, p99))
BOUND_MS += p99  # a slow build (ASan: 0.4-0.8 s per idle activation) gets its own idle p99 on top
w99, wbad = phase("wave", wave, 1)
f99, fbad = phase("flood", flood, 4)
sys.exit(0 if bad0 == 0 and wbad == 0 and fbad == 0 and w99 < BOUND_MS and f99 < BOUND_MS else 1)
PY
# kmsd cut the trickling connections as slow senders and refused the held ones over the per-address cap
[ "$(metric kmsd_connections_closed_total reason=slow_sender)" -gt 0 ] || fail "no slow senders were cut"
[ "$(metric kmsd_connections_rejected_total reason=per_address)" -gt 0 ] || fail "the flood was not capped per address"
stop_kmsd
grep "counters:" "$TMP/kmsd.log" | tail -n 1
echo "ok"
