# Pod servers and probes for many netns in one process: a thread per request
# enters the netns (setns of that thread only) and makes its sockets there.
# Control: one line per TCP connection on 127.0.0.1:PORT (argv[1]):
#   serve NS         listeners on tcp 7000, 7001, 7002 in NS (greet, close)
#   unserve NS       close them
#   tcp NS IP PORT T connect from NS -> ok | timeout | refused | error:X
#   udp NS IP PORT N N datagrams from NS -> sent
# Reply: one line. Ports are the test's fixed ones.
import ctypes, errno, os, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
lock = threading.Lock()
listeners = {}

def enter(ns):
    fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
    finally:
        os.close(fd)

def acceptor(s):
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            return
        try:
            c.sendall(b"hello\n")
        except OSError:
            pass
        c.close()

def handle(c):
    f = c.makefile("rw")
    try:
        w = f.readline().split()
        cmd, ns = w[0], w[1]
        if cmd == "serve":
            enter(ns)
            socks = []
            for p in (7000, 7001, 7002):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", p)); s.listen(64)
                socks.append(s)
                threading.Thread(target=acceptor, args=(s,), daemon=True).start()
            with lock:
                listeners[ns] = socks
            r = "ok"
        elif cmd == "unserve":
            with lock:
                socks = listeners.pop(ns, [])
            for s in socks:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            r = "ok"
        elif cmd == "tcp":
            enter(ns)
            ip, port, t = w[2], int(w[3]), float(w[4])
            try:
                s = socket.create_connection((ip, port), timeout=t)
                s.settimeout(t)
                r = "ok" if s.recv(16) else "timeout"
                s.close()
            except socket.timeout:
                r = "timeout"
            except ConnectionRefusedError:
                r = "refused"
            except OSError as e:
                r = "error:" + errno.errorcode.get(e.errno, str(e.errno))
        elif cmd == "udp":
            enter(ns)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(int(w[4])):
                s.sendto(b"x", (w[2], int(w[3])))
            s.close()
            r = "sent"
        else:
            r = "error:command"
    except Exception as e:
        r = "error:" + repr(e).replace("\n", " ")
    try:
        f.write(r + "\n"); f.flush()
    except OSError:
        pass
    c.close()

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(128)
with open(sys.argv[1], "w") as pf:
    pf.write("%d\n" % srv.getsockname()[1])
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
