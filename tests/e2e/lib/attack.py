#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""What a hostile pod (root, NET_RAW, NET_ADMIN in its own netns) tries, and
the receivers that count what arrives: the helper of tests/e2e/test_hostile.sh.

Run the senders inside the attacking network namespace (nsenter --net=...).
Every frame an attack sends carries a marker "NFX:<tag>:" in its payload where
the protocol has room for one; the sniffer logs one line per frame it sees.

    attack.py sniff LOG LABEL=NETNS:IFNAME...
        Packet sockets (ETH_P_ALL) in each netns; one line per frame received
        (not the ones the namespace sends): "LABEL <summary> tag=<tag|->"
        (qtag= for ICMP errors, whose marker is in the packet they quote).
        Writes "READY" first. A frame tagged "sentinel-*" is logged only after
        every socket was drained again, so once the sentinel is in the log,
        every frame that arrived before it is there too.
    attack.py serve ADDR... [--udp PORT]... [--tcp PORT]...
        UDP and TCP echo servers bound to each ADDR.
    attack.py udp-send DST PORT COUNT TAG [--sport N]
    attack.py udp-probe DST PORT TAG          request/echo; exit 0 on the echo
    attack.py tcp-probe DST PORT TAG          connect, send, echo; exit 0 on it
    attack.py frame IFNAME DST_MAC SRC DST COUNT TAG [--sll-proto N] [--bypass] [--dport N]
                [--src-mac MAC]
        Ethernet + IPv4/IPv6 + UDP (dport 9999) through an AF_PACKET socket,
        sll_protocol N (default: the frame's ethertype), optionally with
        PACKET_QDISC_BYPASS, from IFNAME's MAC or a forged one.
    attack.py rawip SRC DST DPORT COUNT TAG
        IPv4/IPv6 + UDP through a raw IP socket that writes its own IP header
        (IPPROTO_RAW: IP_HDRINCL / IPV6_HDRINCL).
    attack.py icmp-err PEER PORT DST COUNT TAG
        Open a UDP flow to PEER:PORT (query, echo), then send COUNT port
        unreachable errors quoting the peer's answer (with data) to DST.
    attack.py ns6 IFNAME DST COUNT TAG
        ICMPv6 neighbour solicitations for DST, to DST, hop limit 255, with
        200 bytes of payload.
    attack.py arp IFNAME SPA DST_MAC TPA COUNT
        COUNT ARP replies "SPA is at <my MAC>" to DST_MAC/TPA, and COUNT
        gratuitous ARP requests for SPA (broadcast).
    attack.py ra IFNAME COUNT
        Router advertisements (prefix fd66:6::/64, default router) to ff02::1.
    attack.py na IFNAME TARGET DST COUNT
        Unsolicited neighbour advertisements (override) "TARGET is at <my MAC>".
    attack.py udp-flood DST PORT COUNT TAG
        COUNT UDP sockets (distinct source ports), one datagram each; then a
        "sentinel-TAG" datagram on the first socket's flow. Prints the
        number of echoes received.
    attack.py tcp-hold DST PORT CTL
        Keep one TCP connection; commands on the unix socket CTL:
        "send TAG SECONDS" -> "ok" | "timeout" | "closed".
    attack.py ctl CTL COMMAND                 send a command, print the answer
    attack.py stats-delta BEFORE AFTER TENANT DIR REASON N [--at-least]
        Two `netfence stats --json` snapshots: the drop counter (TENANT,
        DIR, REASON, hook tc) moved by exactly N (at least N), and no other
        drop counter of TENANT in DIR moved; REASON allowed_flows: the new
        flows allowed. Exit 0, or 1 saying what moved.
"""
import ctypes
import errno
import json
import os
import re
import select
import socket
import struct
import sys
import time

ETH_P_ALL, ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0003, 0x0800, 0x0806, 0x86DD
SOL_PACKET, PACKET_QDISC_BYPASS, PACKET_OUTGOING = 263, 20, 4
CLONE_NEWNET = 0x40000000
MARK = re.compile(rb"NFX:([\w.-]+):")

libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def marker(tag, size=0):
    m = b"NFX:%s:" % tag.encode()
    return m + b"." * max(0, size - len(m))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s >> 16) + (s & 0xFFFF)
    return ~s & 0xFFFF


def is6(addr):
    return ":" in addr


def ip_bytes(addr):
    return socket.inet_pton(socket.AF_INET6 if is6(addr) else socket.AF_INET, addr)


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def my_mac(ifname):
    # SIOCGIFHWADDR: /sys/class/net is the mounting netns's under nsenter --net
    import fcntl
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        r = fcntl.ioctl(s.fileno(), 0x8927, struct.pack("256s", ifname.encode()))
    return r[18:24]


def l4_csum(src, dst, proto, seg):
    if is6(src):
        ph = ip_bytes(src) + ip_bytes(dst) + struct.pack("!IxxxB", len(seg), proto)
    else:
        ph = ip_bytes(src) + ip_bytes(dst) + struct.pack("!xBH", proto, len(seg))
    return csum(ph + seg)


def udp_packet(src, dst, sport, dport, payload):
    """An IP packet (IPv4 or IPv6 by the addresses) with UDP, checksums set."""
    u = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = l4_csum(src, dst, socket.IPPROTO_UDP, u) or 0xFFFF
    u = u[:6] + struct.pack("!H", c) + u[8:]
    if is6(src):
        return struct.pack("!IHBB", 6 << 28, len(u), socket.IPPROTO_UDP, 64) + \
            ip_bytes(src) + ip_bytes(dst) + u
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(u), 0x1234, 0, 64,
                    socket.IPPROTO_UDP, 0, ip_bytes(src), ip_bytes(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + u


def send_all(sock, data, addr, count):
    """sendto COUNT times; a frame dropped on the sending device (a tc drop
    on a macvlan) fails with ENOBUFS: it was sent, go on."""
    for _ in range(count):
        try:
            sock.sendto(data, addr)
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise


def ifindex(ifname):
    return socket.if_nametoindex(ifname)


# ------------------------------------------------------------ sniffer

def describe(f):
    if len(f) < 14:
        return "short"
    et = struct.unpack("!H", f[12:14])[0]
    p = f[14:]
    if et == ETH_P_ARP and len(p) >= 28:
        op = struct.unpack("!H", p[6:8])[0]
        return "arp op=%d sha=%s spa=%s tpa=%s" % (
            op, ":".join("%02x" % b for b in p[8:14]),
            socket.inet_ntop(socket.AF_INET, p[14:18]), socket.inet_ntop(socket.AF_INET, p[24:28]))
    if et == ETH_P_IP and len(p) >= 20:
        ihl = (p[0] & 0xF) * 4
        s = "ip4 src=%s dst=%s proto=%d" % (socket.inet_ntop(socket.AF_INET, p[12:16]),
                                            socket.inet_ntop(socket.AF_INET, p[16:20]), p[9])
        if p[9] == 1 and len(p) > ihl:
            s += " icmp=%d" % p[ihl]
        return s
    if et == ETH_P_IPV6 and len(p) >= 40:
        nh, off = p[6], 40
        while nh in (0, 43, 60) and len(p) >= off + 8:  # hop-by-hop, routing, dstopts
            nh, off = p[off], off + (p[off + 1] + 1) * 8
        s = "ip6 src=%s dst=%s nh=%d hlim=%d" % (socket.inet_ntop(socket.AF_INET6, p[8:24]),
                                                 socket.inet_ntop(socket.AF_INET6, p[24:40]),
                                                 nh, p[7])
        if nh == 58 and len(p) > off:
            s += " icmp6=%d" % p[off]
            if p[off] in (135, 136) and len(p) >= off + 24:  # NS, NA: their target
                s += " target=%s" % socket.inet_ntop(socket.AF_INET6, p[off + 8:off + 24])
        return s
    return "eth type=0x%04x" % et


def cmd_sniff(args):
    log = open(args[0], "a", buffering=1)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    socks = {}
    for spec in args[1:]:
        label, rest = spec.split("=", 1)
        path, ifname = rest.rsplit(":", 1)
        setns(path)
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((ifname, ETH_P_ALL))
        s.setblocking(False)
        socks[s] = label
        libc.setns(home, CLONE_NEWNET)
    log.write("READY\n")

    def drain():
        out = []
        for s, label in socks.items():
            while True:
                try:
                    data, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                m = MARK.search(data)
                d = describe(data)
                # an ICMP error quotes another packet: its marker is qtag=
                key = "qtag" if re.search(r" icmp=(3|4|5|11|12)$| icmp6=[1-4]$", d) else "tag"
                out.append("%s %s %s=%s" % (label, d, key, m.group(1).decode() if m else "-"))
        return out

    while True:
        select.select(list(socks), [], [])
        lines = []
        while True:
            got = drain()
            if not got:
                break
            lines += got
        # sentinels last: everything drained before them is in the log first
        for ln in [x for x in lines if "tag=sentinel-" not in x] + \
                  [x for x in lines if "tag=sentinel-" in x]:
            log.write(ln + "\n")


# ------------------------------------------------------------ servers, probes

def cmd_serve(args):
    import threading
    addrs, udp, tcp = [], [], []
    i = 0
    while i < len(args):
        if args[i] == "--udp":
            udp.append(int(args[i + 1]))
            i += 2
        elif args[i] == "--tcp":
            tcp.append(int(args[i + 1]))
            i += 2
        else:
            addrs.append(args[i])
            i += 1

    def fam(a):
        return socket.AF_INET6 if is6(a) else socket.AF_INET

    def udp_echo(s):
        while True:
            d, a = s.recvfrom(65536)
            s.sendto(d, a)

    def tcp_conn(c):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()

    def tcp_accept(s):
        while True:
            c, _ = s.accept()
            threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()

    threads = []
    for a in addrs:
        for p in udp:
            s = socket.socket(fam(a), socket.SOCK_DGRAM)
            s.bind((a, p))
            threads.append(threading.Thread(target=udp_echo, args=(s,), daemon=True))
        for p in tcp:
            s = socket.socket(fam(a), socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, p))
            s.listen(128)
            threads.append(threading.Thread(target=tcp_accept, args=(s,), daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def cmd_udp_send(args):
    dst, port, count, tag = args[0], int(args[1]), int(args[2]), args[3]
    s = socket.socket(socket.AF_INET6 if is6(dst) else socket.AF_INET, socket.SOCK_DGRAM)
    if "--sport" in args:
        s.bind(("::" if is6(dst) else "0.0.0.0", int(args[args.index("--sport") + 1])))
    send_all(s, marker(tag, 32), (dst, port), count)


def cmd_udp_probe(args):
    dst, port, tag = args[0], int(args[1]), args[2]
    s = socket.socket(socket.AF_INET6 if is6(dst) else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    s.connect((dst, port))
    s.send(marker(tag, 32))
    try:
        return 0 if s.recv(256) == marker(tag, 32) else 1
    except OSError:
        return 1


def cmd_tcp_probe(args):
    dst, port, tag = args[0], int(args[1]), args[2]
    try:
        s = socket.create_connection((dst, port), timeout=2.0)
        s.sendall(marker(tag, 32))
        got = b""
        while len(got) < 32:
            d = s.recv(32 - len(got))
            if not d:
                return 1
            got += d
        return 0 if got == marker(tag, 32) else 1
    except OSError:
        return 1


# ------------------------------------------------------------ attacks

def cmd_frame(args):
    ifname, dmac, src, dst, count, tag = args[0], args[1], args[2], args[3], int(args[4]), args[5]
    et = ETH_P_IPV6 if is6(src) else ETH_P_IP
    sll = int(args[args.index("--sll-proto") + 1], 0) if "--sll-proto" in args else et
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    if "--bypass" in args:
        s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    dport = int(args[args.index("--dport") + 1]) if "--dport" in args else 9999
    smac = mac_bytes(args[args.index("--src-mac") + 1]) if "--src-mac" in args else my_mac(ifname)
    f = mac_bytes(dmac) + smac + struct.pack("!H", et) + \
        udp_packet(src, dst, 40000, dport, marker(tag, 32))
    send_all(s, f, (ifname, sll), count)


def cmd_rawip(args):
    src, dst, dport, count, tag = args[0], args[1], int(args[2]), int(args[3]), args[4]
    fam = socket.AF_INET6 if is6(dst) else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_RAW)
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    pkt = udp_packet(src, dst, 40001, dport, marker(tag, 32))
    send_all(s, pkt, (dst, 0), count)


def cmd_icmp_err(args):
    peer, port, dst, count, tag = args[0], int(args[1]), args[2], int(args[3]), args[4]
    v6 = is6(peer)
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.settimeout(2.0)
    u.connect((peer, port))
    u.send(marker("flow-" + tag, 32))
    try:
        u.recv(256)
    except OSError:
        print("icmp-err: the flow to %s:%d was not answered" % (peer, port), file=sys.stderr)
        return 1
    me, myport = u.getsockname()[:2]
    # the quoted packet: the peer's answer to us (peer -> me), with data
    quoted = udp_packet(peer, me, port, myport, marker(tag, 64))
    if v6:
        r = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)  # kernel sums
        msg = struct.pack("!BBHI", 1, 4, 0, 0) + quoted
    else:
        r = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        msg = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
        msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
    send_all(r, msg, (dst, 0), count)
    return 0


def icmp6_sock(ifname, hops=255):
    r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    r.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
    r.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
    r.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex(ifname))
    return r


def cmd_ns6(args):
    ifname, dst, count, tag = args[0], args[1], int(args[2]), args[3]
    r = icmp6_sock(ifname)
    msg = struct.pack("!BBHI", 135, 0, 0, 0) + ip_bytes(dst) + marker(tag, 200)
    send_all(r, msg, (dst, 0, 0, ifindex(ifname)), count)


def cmd_arp(args):
    ifname, spa, dmac, tpa, count = args[0], args[1], args[2], args[3], int(args[4])
    me = my_mac(ifname)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)

    def arp(op, eth_dst, tha, tpa_):
        return eth_dst + me + struct.pack("!H", ETH_P_ARP) + \
            struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op) + me + ip_bytes(spa) + tha + ip_bytes(tpa_)

    reply = arp(2, mac_bytes(dmac), mac_bytes(dmac), tpa)
    garp = arp(1, b"\xff" * 6, b"\0" * 6, spa)
    for _ in range(count):
        send_all(s, reply, (ifname, ETH_P_ARP), 1)
        send_all(s, garp, (ifname, ETH_P_ARP), 1)


def cmd_ra(args):
    ifname, count = args[0], int(args[1])
    r = icmp6_sock(ifname)
    # hop limit 64, flags 0, router lifetime 1800 s, reachable 0, retrans 0
    msg = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
    # source link-layer address option, prefix information fd66:6::/64 (L, A)
    msg += struct.pack("!BB", 1, 1) + my_mac(ifname)
    msg += struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0) + ip_bytes("fd66:6::")
    send_all(r, msg, ("ff02::1", 0, 0, ifindex(ifname)), count)


def cmd_na(args):
    ifname, target, dst, count = args[0], args[1], args[2], int(args[3])
    r = icmp6_sock(ifname)
    msg = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + ip_bytes(target)  # override
    msg += struct.pack("!BB", 2, 1) + my_mac(ifname)  # target link-layer address
    send_all(r, msg, (dst, 0, 0, ifindex(ifname)), count)


def cmd_udp_flood(args):
    dst, port, count, tag = args[0], int(args[1]), int(args[2]), args[3]
    fam = socket.AF_INET6 if is6(dst) else socket.AF_INET
    socks = []
    for _ in range(count):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.connect((dst, port))
        s.setblocking(False)
        socks.append(s)
    for s in socks:
        s.send(marker(tag, 32))
    socks[0].send(marker("sentinel-" + tag, 32))
    got, deadline = 0, time.time() + 3.0
    pending = set(socks)
    while pending and time.time() < deadline:
        rd = select.select(list(pending), [], [], max(0.0, deadline - time.time()))[0]
        if not rd:
            break
        for s in rd:
            while True:
                try:
                    if s.recv(256).startswith(marker(tag)):
                        got += 1
                except (BlockingIOError, ConnectionRefusedError):
                    break
            if s is not socks[0]:
                pending.discard(s)
    print(got)


def cmd_tcp_hold(args):
    dst, port, ctl = args[0], int(args[1]), args[2]
    c = socket.create_connection((dst, port), timeout=2.0)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(ctl)
    srv.listen(4)
    while True:
        k, _ = srv.accept()
        words = k.recv(256).decode().split()
        ans = "bad"
        if len(words) == 3 and words[0] == "send":
            m = marker(words[1], 32)
            c.settimeout(float(words[2]))
            try:
                c.sendall(m)
                got = b""
                while len(got) < len(m):
                    d = c.recv(len(m) - len(got))
                    if not d:
                        raise ConnectionResetError()
                    got += d
                ans = "ok" if got == m else "garbled"
            except socket.timeout:
                ans = "timeout"
            except OSError:
                ans = "closed"
        k.sendall(ans.encode())
        k.close()


def cmd_ctl(args):
    k = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    k.connect(args[0])
    k.sendall(" ".join(args[1:]).encode())
    print(k.recv(256).decode())


def cmd_stats_delta(args):
    before, after, tenant, d, reason, n = args[0], args[1], args[2], args[3], args[4], int(args[5])
    at_least = "--at-least" in args

    def drops(path):
        out = {}
        for t in json.load(open(path)).get("tenants", []):
            if t.get("tenant") != tenant:
                continue
            for x in t.get("drops", []):
                if x["direction"] == d and x["hook"] == "tc":
                    out[x["reason"]] = out.get(x["reason"], 0) + x["packets"]
        return out

    if reason == "allowed_flows":  # new flows allowed, not a drop reason
        def allowed(path):
            for t in json.load(open(path)).get("tenants", []):
                if t.get("tenant") == tenant:
                    return t.get("allowed_flows", {}).get(d, 0)
            return 0
        delta = allowed(after) - allowed(before)
        if delta == n or (at_least and delta >= n):
            return 0
        print("%s %s allowed_flows +%d (want %s%d)" % (tenant, d, delta, ">=" if at_least else "", n))
        return 1
    b, a = drops(before), drops(after)
    bad = []
    for r in sorted(set(a) | set(b) | {reason}):
        delta = a.get(r, 0) - b.get(r, 0)
        if r == reason:
            if delta != n and not (at_least and delta >= n):
                bad.append("%s %s %s +%d (want %s%d)" % (tenant, d, r, delta,
                                                         ">=" if at_least else "", n))
        elif delta:
            bad.append("%s %s %s +%d (want +0)" % (tenant, d, r, delta))
    if bad:
        print("; ".join(bad))
        return 1
    return 0


CMDS = {
    "sniff": cmd_sniff, "serve": cmd_serve, "udp-send": cmd_udp_send,
    "udp-probe": cmd_udp_probe, "tcp-probe": cmd_tcp_probe, "frame": cmd_frame,
    "rawip": cmd_rawip, "icmp-err": cmd_icmp_err, "ns6": cmd_ns6, "arp": cmd_arp,
    "ra": cmd_ra, "na": cmd_na, "udp-flood": cmd_udp_flood, "tcp-hold": cmd_tcp_hold,
    "ctl": cmd_ctl, "stats-delta": cmd_stats_delta,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CMDS:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(CMDS[sys.argv[1]](sys.argv[2:]) or 0)
