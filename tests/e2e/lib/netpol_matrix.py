# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Real traffic for the NetworkPolicy e2e tests (tests/e2e/test_netpol_labels.sh),
modelled on the upstream Kubernetes netpol suite (test/e2e/network/netpol: a
"reachability matrix" of pods x/y/z * a/b/c, every pod probing every pod).

  serve SPEC...             servers in this netns; SPEC is tcp:PORT (greets
                            "hello" and closes), udp:PORT (echoes) or
                            echo:PORT (TCP echo, for long-lived connections)
  probe PODS EXPECT [--timeout S] [--retries N]
                            measure the matrix and compare it to EXPECT.
      PODS:   lines "NAME NETNS-PATH IPV4 [SHORT]" (NAME like x/a; SHORT, if
              given, names it in the tables)
      EXPECT: lines "FROM TO PROTO/PORT 0|1" (1: reachable)
      One process probes every cell at once: it enters each source pod's
      netns (setns) to open that pod's sockets, so a matrix takes one timeout,
      not one per blocked cell. A cell expected reachable that timed out is
      probed again (a loaded machine); a cell expected blocked that answered
      is a failure at once. Exit 0: as expected; 1: mismatch (tables printed);
      2: bad input.
  hold HOST PORT            a long-lived TCP connection to an echo: server:
                            prints "connected" (or "failed: ..."), then for
                            each stdin line sends it and prints "ok" when the
                            echo comes back, "timeout" or "closed".
"""
import ctypes
import errno
import os
import select
import socket
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


# ---- servers ----

def _tcp_greet(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(b"hello\n")
        except OSError:
            pass
        c.close()


def _udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(d, a)


def _tcp_echo(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)

    def serve(c):
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def cmd_serve(specs):
    kinds = {"tcp": _tcp_greet, "udp": _udp_echo, "echo": _tcp_echo}
    ts = []
    for sp in specs:
        kind, port = sp.split(":")
        ts.append(threading.Thread(target=kinds[kind], args=(int(port),), daemon=True))
    for t in ts:
        t.start()
    for t in ts:
        t.join()


# ---- the matrix ----

def measure(cells, pods, timeout):
    """cells: (from, to, "tcp/80"); -> {cell: "ok" | "timeout" | "refused" | ...}"""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    res, live = {}, {}
    try:
        for c in cells:
            frm, to, port = c
            proto, num = port.split("/")
            enter_netns(pods[frm][0])
            s = socket.socket(socket.AF_INET,
                              socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
            s.setblocking(False)
            addr = (pods[to][1], int(num))
            try:
                if proto == "tcp":
                    e = s.connect_ex(addr)
                    if e not in (0, errno.EINPROGRESS):
                        raise OSError(e, os.strerror(e))
                else:
                    s.connect(addr)
                    s.send(b"netpol %s %s" % (frm.encode(), to.encode()))
            except OSError as e:
                res[c] = "error:" + errno.errorcode.get(e.errno, str(e.errno))
                s.close()
                continue
            live[s.fileno()] = (c, s)
    finally:
        if _libc.setns(home, CLONE_NEWNET) != 0:
            sys.exit("netpol_matrix: cannot return to the original netns")
        os.close(home)
    poller = select.poll()
    for fd in live:
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    end = time.monotonic() + timeout
    while live:
        left = end - time.monotonic()
        if left <= 0:
            break
        for fd, _ in poller.poll(left * 1000):
            c, s = live.pop(fd)
            poller.unregister(fd)
            try:
                d = s.recv(2048)
                # tcp: the greeting; udp: our own datagram back
                res[c] = "ok" if d else "closed"
            except ConnectionRefusedError:
                res[c] = "refused"	# reached the pod, nothing listening
            except OSError as e:
                res[c] = "error:" + errno.errorcode.get(e.errno, str(e.errno))
            s.close()
    for c, s in live.values():
        res[c] = "timeout"
        s.close()
    return res


def cmd_probe(argv):
    timeout, retries, args = 1.5, 2, []
    i = 0
    while i < len(argv):
        if argv[i] == "--timeout":
            timeout = float(argv[i + 1])
            i += 2
        elif argv[i] == "--retries":
            retries = int(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) != 2:
        print("usage: netpol_matrix.py probe PODS EXPECT [--timeout S] [--retries N]",
              file=sys.stderr)
        return 2
    pods, order, short = {}, [], {}
    for line in open(args[0]):
        f = line.split()
        if f:
            pods[f[0]] = (f[1], f[2])
            order.append(f[0])
            short[f[0]] = f[3] if len(f) > 3 else f[0]
    expect, ports = {}, []
    for line in open(args[1]):
        f = line.split()
        if not f:
            continue
        if f[0] not in pods or f[1] not in pods or f[3] not in ("0", "1"):
            print("netpol_matrix: bad expectation line: %s" % line.strip(), file=sys.stderr)
            return 2
        expect[(f[0], f[1], f[2])] = f[3] == "1"
        if f[2] not in ports:
            ports.append(f[2])
    got = measure(list(expect), pods, timeout)
    for _ in range(retries):
        again = [c for c in expect if expect[c] and got[c] != "ok"]
        if not again:
            break
        got.update(measure(again, pods, timeout * 2))
    bad = [c for c in expect if (got[c] == "ok") != expect[c] or got[c] not in ("ok", "timeout")]
    if not bad:
        return 0
    print("    reachability (rows: from, columns: to): . reachable, X blocked, as expected;"
          " + reachable but expected blocked, - blocked but expected reachable, ? other")
    w = max([4] + [len(short[p]) for p in order])  # a column
    lw = max(w, 6) + 1  # the rows' names
    for port in ports:
        if not any(c[2] == port for c in bad):
            continue
        print("    %-*s %s" % (lw, port, " ".join("%-*s" % (w, short[p]) for p in order)))
        for frm in order:
            row = []
            for to in order:
                c = (frm, to, port)
                if c not in expect:
                    row.append(" ")
                    continue
                g = got[c]
                if g not in ("ok", "timeout"):
                    row.append("?")
                elif (g == "ok") == expect[c]:
                    row.append("." if expect[c] else "X")
                else:
                    row.append("+" if g == "ok" else "-")
            print("    %-*s %s" % (lw, short[frm], " ".join("%-*s" % (w, r) for r in row)))
    rank = {p: i for i, p in enumerate(order)}
    for c in sorted(bad, key=lambda c: (ports.index(c[2]), rank[c[0]], rank[c[1]])):
        print("    %s -> %s %s: expected %s, got %s" % (
            c[0], c[1], c[2], "reachable" if expect[c] else "blocked", got[c]))
    return 1


# ---- a long-lived connection ----

def cmd_hold(host, port):
    try:
        s = socket.create_connection((host, int(port)), timeout=3)
    except OSError as e:
        print("failed: %s" % e, flush=True)
        return 1
    print("connected", flush=True)
    for line in sys.stdin:
        try:
            s.settimeout(2)
            s.sendall(line.encode())
            d = b""
            while len(d) < len(line):
                chunk = s.recv(4096)
                if not chunk:
                    break
                d += chunk
            print("ok" if d == line.encode() else "closed", flush=True)
        except socket.timeout:
            print("timeout", flush=True)
        except OSError as e:
            print("closed: %s" % e, flush=True)
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        cmd_serve(argv)
        return 0
    if cmd == "probe":
        return cmd_probe(argv)
    if cmd == "hold" and len(argv) == 2:
        return cmd_hold(*argv)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
