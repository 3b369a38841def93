#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""BPF programs on an interface's tcx hooks (Linux 6.6+), for the e2e tests.

    tchooks.py count IFNAME    programs at tcx ingress + egress
    tchooks.py detach IFNAME   detach every one of them (another tool's doing)
    tchooks.py ids IFNAME      their ids, one "ingress|egress ID" line each

Run it inside the interface's network namespace. iproute2 and this
machine's bpftool predate tcx, so this speaks the bpf() syscall itself.
"""
import ctypes
import socket
import struct
import sys

NR_BPF = 321  # x86_64
PROG_DETACH, PROG_GET_FD_BY_ID, PROG_QUERY = 9, 13, 16
TCX_INGRESS, TCX_EGRESS = 46, 47

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    ret = libc.syscall(ctypes.c_long(NR_BPF), ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {ctypes.cast(libc.strerror(err), ctypes.c_char_p).value.decode()}")
    return ret, buf.raw


def prog_ids(ifindex, attach_type):
    ids = (ctypes.c_uint32 * 64)()
    attr = struct.pack("=IIIIQII", ifindex, attach_type, 0, 0, ctypes.addressof(ids), 64, 0)
    attr += bytes(64 - len(attr))
    _, out = bpf(PROG_QUERY, attr)
    count = struct.unpack_from("=I", out, 24)[0]
    return list(ids[:count])


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("count", "detach", "ids"):
        sys.exit(__doc__)
    ifindex = socket.if_nametoindex(sys.argv[2])
    hooks = {t: prog_ids(ifindex, t) for t in (TCX_INGRESS, TCX_EGRESS)}
    if sys.argv[1] == "count":
        print(sum(len(v) for v in hooks.values()))
        return
    if sys.argv[1] == "ids":
        for attach_type, ids in hooks.items():
            for pid in ids:
                print("ingress" if attach_type == TCX_INGRESS else "egress", pid)
        return
    for attach_type, ids in hooks.items():
        for pid in ids:
            fd, _ = bpf(PROG_GET_FD_BY_ID, struct.pack("=III", pid, 0, 0))
            bpf(PROG_DETACH, struct.pack("=IIIIIIQ", ifindex, fd, attach_type, 0, 0, 0, 0))


if __name__ == "__main__":
    main()
