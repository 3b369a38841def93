#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Long-running traffic for e2e tests that change the datapath under live flows
(tests/e2e/test_upgrade.sh). Run each inside the network namespace (and cgroup)
it belongs to.

  streams.py tcp-echo PORT OUT      echo server; per connection, at its end, appends
                                    "conn SPORT bytes=N retrans=N" to OUT
                                    (retrans: TCP_INFO tcpi_total_retrans of its socket)
  streams.py udp-echo PORT          echo server
  streams.py tcp-stream HOST PORT SPORT DIR
        from source port SPORT: 8 KiB blocks echoed back and compared, one round
        trip every 5 ms, until DIR/stop exists. DIR/ready after the first round
        trip, DIR/progress holds the round trips so far. Prints
        "rounds=N cut=0|1 retrans=N max_gap_ms=N [why=...]" at the end.
  streams.py udp-stream HOST PORT SPORT PPS DIR
        from source port SPORT: datagrams numbered 0, 1, ... at PPS a second, each
        echoed back, until DIR/stop exists; then waits a second for the last echoes.
        DIR/ready after the first echo, DIR/progress holds the echoes so far.
        Prints "sent=N got=N lost=N dup=N lost_at=N,... errors=send:ENAME*N,..."
        (lost: numbers sent and never echoed, lost_at the first 5 of them, each
        @ the wall clock time it was sent).
  streams.py deny STOPFILE TARGET...
        TARGET is HOST:UDPPORT:TCPPORT. Until STOPFILE exists: a datagram to each
        UDPPORT every 100 ms, a connect() (0.3 s timeout) to each TCPPORT in turn,
        0.1 s apart (slow enough that every drop event reaches `netfence monitor`:
        the kernel sends at most 100 a second per CPU).
        Prints "udp_sent=N udp_refused=N tcp_ok=N tcp_denied=N" (refused: the send
        failed, e.g. EPERM from a cgroup hook; tcp_ok: a connection was made).
  streams.py sink OUT UDPPORT TCPPORT
        counts datagrams received on UDPPORT and connections accepted on TCPPORT
        (any address family); OUT always holds "udp=N tcp=N".
  streams.py probe tcp|udp HOST PORT [SPORT]
        one exchange with an echo server; prints ok, timeout, or the errno name.
"""
import errno
import os
import select
import socket
import struct
import sys
import threading
import time

BLOCK = 8192


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def total_retrans(s):
    # struct tcp_info: tcpi_total_retrans is the u32 at offset 100
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("=I", info, 100)[0]


def big_buffers(s):
    # a loaded machine may not run the receiver for a while: losses must be
    # the network's, never a full socket buffer's
    for opt in (33, 32):  # SO_RCVBUFFORCE, SO_SNDBUFFORCE (root)
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
        except OSError:
            pass


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise OSError("connection closed")
        buf += d
    return bytes(buf)


def tcp_echo(port, out):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(64)
    lock = threading.Lock()

    def serve(c, peer):
        n = 0
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
                n += len(d)
        except OSError:
            pass
        try:
            r = total_retrans(c)
        except OSError:
            r = -1
        c.close()
        with lock, open(out, "a") as f:
            f.write("conn %d bytes=%d retrans=%d\n" % (peer[1], n, r))

    while True:
        c, peer = s.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()


def udp_echo(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    big_buffers(s)
    s.bind(("::", port))
    while True:
        d, a = s.recvfrom(65536)
        s.sendto(d, a)


def tcp_stream(host, port, sport, d):
    stop = os.path.join(d, "stop")
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", sport))
    s.settimeout(10)
    rounds, cut, why, max_gap = 0, 0, "", 0.0
    try:
        s.connect((host, port))
        last = time.monotonic()
        while not os.path.exists(stop):
            block = (b"%016d" % rounds) * (BLOCK // 16)
            s.sendall(block)
            if recv_exact(s, BLOCK) != block:
                raise OSError("echo differs")
            rounds += 1
            now = time.monotonic()
            max_gap = max(max_gap, now - last)
            last = now
            if rounds == 1:
                open(os.path.join(d, "ready"), "w").close()
            if rounds % 20 == 0:
                write_atomic(os.path.join(d, "progress"), "%d\n" % rounds)
            time.sleep(0.005)
    except (OSError, socket.timeout) as e:
        cut, why = 1, str(e).replace(" ", "_") or type(e).__name__
    try:
        r = total_retrans(s)
    except OSError:
        r = -1
    s.close()
    print("rounds=%d cut=%d retrans=%d max_gap_ms=%d%s" %
          (rounds, cut, r, max_gap * 1000, " why=" + why if why else ""), flush=True)


def udp_stream(host, port, sport, d, pps):
    stop = os.path.join(d, "stop")
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    big_buffers(s)
    s.bind(("", sport))
    s.connect((host, port))
    got = set()
    dup = [0]
    errs = {}  # "send:ENAME" / "recv:ENAME" -> count, reported with the result
    done = threading.Event()

    def count_err(where, e):
        k = "%s:%s" % (where, errno.errorcode.get(e.errno, str(e.errno)))
        errs[k] = errs.get(k, 0) + 1

    def receive():
        s.settimeout(0.2)
        while not done.is_set():
            try:
                data = s.recv(64)
            except socket.timeout:
                continue
            except OSError as e:
                count_err("recv", e)
                continue
            n = struct.unpack("!Q", data[:8])[0]
            if n in got:
                dup[0] += 1
            got.add(n)
            if len(got) == 1:
                open(os.path.join(d, "ready"), "w").close()
            if len(got) % 50 == 0:
                write_atomic(os.path.join(d, "progress"), "%d\n" % len(got))

    t = threading.Thread(target=receive, daemon=True)
    t.start()
    sent, t0, period = 0, time.monotonic(), 1.0 / pps
    sent_at = []  # wall clock of each send, to place a loss among the test's steps
    while not os.path.exists(stop):
        sent_at.append(time.time())
        try:
            s.send(struct.pack("!Q", sent) + b"seq")
        except OSError as e:
            count_err("send", e)  # counted lost too: it never comes back
        sent += 1
        delay = t0 + sent * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(1.0)
    done.set()
    t.join()
    missing = [i for i in range(sent) if i not in got]
    # which numbers (the first 5) and the socket errors: a datagram lost at the
    # end, mid-stream, or refused at send are different stories
    print("sent=%d got=%d lost=%d dup=%d lost_at=%s errors=%s" %
          (sent, len(got), len(missing), dup[0],
           ",".join("%d@%s" % (i, time.strftime("%H:%M:%S", time.localtime(sent_at[i]))) +
                    ("%.3f" % (sent_at[i] % 1))[1:] for i in missing[:5]) or "-",
           ",".join("%s*%d" % kv for kv in sorted(errs.items())) or "-"), flush=True)


def deny(stopfile, targets):
    ts = []
    for t in targets:
        h, u, p = t.rsplit(":", 2)
        ts.append((h, int(u), int(p)))
    c = {"udp_sent": 0, "udp_refused": 0, "tcp_ok": 0, "tcp_denied": 0}
    stopped = threading.Event()

    def tcp_loop():
        while not stopped.is_set():
            for h, _, p in ts:
                s = socket.socket(family(h), socket.SOCK_STREAM)
                s.settimeout(0.3)
                try:
                    s.connect((h, p))
                    c["tcp_ok"] += 1
                except (OSError, socket.timeout):
                    c["tcp_denied"] += 1
                s.close()
                time.sleep(0.1)  # an EPERM comes at once: don't spin

    th = threading.Thread(target=tcp_loop, daemon=True)
    th.start()
    socks = {}
    for h, u, _ in ts:
        socks[h] = socket.socket(family(h), socket.SOCK_DGRAM)
    while not os.path.exists(stopfile):
        for h, u, _ in ts:
            try:
                socks[h].sendto(b"leak", (h, u))
                c["udp_sent"] += 1
            except OSError:
                c["udp_refused"] += 1
        time.sleep(0.1)
    stopped.set()
    th.join()
    print(" ".join("%s=%d" % kv for kv in c.items()), flush=True)


def sink(out, uport, tport):
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(("::", uport))
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("::", tport))
    t.listen(64)
    n = {"udp": 0, "tcp": 0}
    write_atomic(out, "udp=0 tcp=0\n")
    while True:
        r, _, _ = select.select([u, t], [], [])
        if u in r:
            u.recvfrom(65536)
            n["udp"] += 1
        if t in r:
            c, _ = t.accept()
            c.close()
            n["tcp"] += 1
        write_atomic(out, "udp=%d tcp=%d\n" % (n["udp"], n["tcp"]))


def probe(kind, host, port, sport):
    s = socket.socket(family(host), socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    if sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", sport))
    s.settimeout(1.5)
    try:
        if kind == "tcp":
            s.connect((host, port))
            s.sendall(b"ping\n")
            assert recv_exact(s, 5) == b"ping\n"
        else:
            s.sendto(b"q", (host, port))
            assert s.recvfrom(64)[0] == b"q"
        print("ok")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e)) if e.errno else str(e))


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    cmd = a[0]
    if cmd == "tcp-echo" and len(a) == 3:
        tcp_echo(int(a[1]), a[2])
    elif cmd == "udp-echo" and len(a) == 2:
        udp_echo(int(a[1]))
    elif cmd == "tcp-stream" and len(a) == 5:
        tcp_stream(a[1], int(a[2]), int(a[3]), a[4])
    elif cmd == "udp-stream" and len(a) == 6:
        udp_stream(a[1], int(a[2]), int(a[3]), a[5], float(a[4]))
    elif cmd == "deny" and len(a) >= 3:
        deny(a[1], a[2:])
    elif cmd == "sink" and len(a) == 4:
        sink(a[1], int(a[2]), int(a[3]))
    elif cmd == "probe" and len(a) in (4, 5):
        probe(a[1], a[2], int(a[3]), int(a[4]) if len(a) == 5 else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
