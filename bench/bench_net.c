// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Traffic for the veth rows of `make bench` (SPEC §9): small packets and new
 * connections, where a Python or iperf3 loop would measure itself rather than
 * the path on a 2-core machine.
 *
 *   bench_net udp-sink    --port P [--idle-ms MS]
 *   bench_net udp-flood   --dst ADDR --port P --seconds S [--len L] [--pps R]
 *                         [--netns PATH,PATH... [--slice-ms MS]]
 *   bench_net tcp-accept  --port P [--idle-ms MS]
 *   bench_net tcp-connect --dst ADDR --port P --seconds S
 *                         [--netns PATH,PATH... [--slice-ms MS]]
 *   bench_net tcp-sink    --port P [--idle-ms MS]
 *   bench_net tcp-stream  --dst ADDR --port P --seconds S [--rate BYTES_PER_S]
 *
 * Every UDP payload starts with a 64-bit sequence number, so the sink counts
 * the packets lost on the way (sent = highest sequence + 1). Sinks and the
 * accept loop stop after --idle-ms without traffic (once traffic has been
 * seen, or after 30 s without any). Senders stop early on SIGTERM or SIGINT
 * and still report. Each prints one line of key=value pairs:
 *   udp-sink:    received=N lost=N reordered=N seconds=F pps=F
 *   udp-flood:   sent=N seconds=F pps=F
 *   tcp-accept:  accepted=N seconds=F
 *   tcp-connect: connections=N failed=N seconds=F per_sec=F
 *
 * tcp-connect and udp-flood --netns take turns between network namespaces
 * (each path a netns file, /var/run/netns/NAME, each with its own route to
 * ADDR): a slice of --slice-ms (100) in each, in rotating order, until each
 * has had --seconds. Namespaces compared so take the machine's slow swings
 * alike, however noisy it is. One line per namespace, in the order given:
 *   tcp-connect: netns=PATH connections=N failed=N seconds=F per_sec=F
 *   udp-flood:   netns=PATH sent=N seconds=F pps=F
 * (a sink's received count over its namespace's seconds is its rate).
 *   tcp-sink:    bytes=N seconds=F
 *   tcp-stream:  bytes=N seconds=F retransmits=N (TCP_INFO tcpi_total_retrans)
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/socket.h>

#define BATCH		64
#define MAX_LEN		1472
#define FIRST_WAIT_MS	30000

static struct {
	const char *dst;
	int port;
	double seconds;
	int len;
	double pps;
	double rate;
	int idle_ms;
	char *netns;		/* tcp-connect, udp-flood: comma-separated netns paths */
	int slice_ms;
} opt = { .port = 0, .seconds = 5, .len = 64, .pps = 0, .idle_ms = 500, .slice_ms = 100 };

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fill *ss from opt.dst/opt.port (IPv4 or IPv6 literal); returns the length or -1. */
static socklen_t dst_addr(struct sockaddr_storage *ss)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (opt.dst && inet_pton(AF_INET, opt.dst, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(opt.port);
		return sizeof(*in4);
	}
	if (opt.dst && inet_pton(AF_INET6, opt.dst, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(opt.port);
		return sizeof(*in6);
	}
	fprintf(stderr, "bench_net: --dst must be an IPv4 or IPv6 address\n");
	return 0;
}

/* A socket bound to [::]:port (IPv4 too, v4-mapped). */
static int bound_socket(int type)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(opt.port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int fd = socket(AF_INET6, type, 0), zero = 0, one = 1, big = 32 << 20;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    (type == SOCK_STREAM && listen(fd, 4096))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait for fd to be readable: 1 ready, 0 idle timeout. */
static int wait_readable(int fd, bool seen)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, seen ? opt.idle_ms : FIRST_WAIT_MS);

	return r > 0;
}

static int udp_sink(void)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	static uint8_t bufs[BATCH][MAX_LEN];
	uint64_t received = 0, reordered = 0, next = 0, max_seq = 0;
	double first = 0, last = 0;
	int fd = bound_socket(SOCK_DGRAM), i, n;

	if (fd < 0) {
		perror("bench_net: udp socket");
		return 1;
	}
	for (i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ bufs[i], MAX_LEN };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	printf("ready\n");
	fflush(stdout);
	while (wait_readable(fd, received > 0)) {
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		last = now();
		if (!received)
			first = last;
		for (i = 0; i < n; i++) {
			uint64_t seq;

			if (msgs[i].msg_len < sizeof(seq))
				continue;
			memcpy(&seq, bufs[i], sizeof(seq));
			if (seq < next)
				reordered++;
			next = seq + 1;
			if (seq > max_seq)
				max_seq = seq;
			received++;
		}
	}
	printf("received=%llu lost=%llu reordered=%llu seconds=%.3f pps=%.0f\n",
	       (unsigned long long)received,
	       (unsigned long long)(received && max_seq + 1 > received ? max_seq + 1 - received : 0),
	       (unsigned long long)reordered, last - first,
	       last > first ? received / (last - first) : 0.0);
	close(fd);
	return 0;
}

/* The flood's batch of 64-bit sequence numbers (udp-sink counts losses by them). */
struct flood {
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint8_t bufs[BATCH][MAX_LEN];
	int batch;
};

static void flood_init(struct flood *f)
{
	int i;

	for (i = 0; i < BATCH; i++) {
		f->iov[i] = (struct iovec){ f->bufs[i], (size_t)opt.len };
		f->msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &f->iov[i], .msg_iovlen = 1 } };
	}
	f->batch = opt.pps > 0 && opt.pps < 100000 ? 1 : BATCH;	/* paced: evenly spaced */
}

/*
 * Send on fd until `until` (now() time), paced at opt.pps from `start` if
 * set; *seq counts what was sent. -1 on a send error that is not congestion.
 */
static int flood_until(int fd, struct flood *f, uint64_t *seq, double start, double until)
{
	double t;
	int i, n;

	while ((t = now()) < until && !stop) {
		if (opt.pps > 0 && *seq >= (t - start) * opt.pps) {
			struct timespec ts = { 0, 20000 };

			nanosleep(&ts, NULL);
			continue;
		}
		for (i = 0; i < f->batch; i++) {
			uint64_t sq = *seq + i;

			memcpy(f->bufs[i], &sq, sizeof(sq));
		}
		n = sendmmsg(fd, f->msgs, f->batch, 0);
		if (n > 0)
			*seq += n;
		else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
			return -1;
	}
	return 0;
}

#define MAX_NETNS 16

/* --netns: the namespaces' files, opened; their count, or -1 (said why). */
static int open_netns(int fds[MAX_NETNS], char *paths[MAX_NETNS])
{
	char *save = NULL, *p;
	int n = 0;

	for (p = strtok_r(opt.netns, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (n == MAX_NETNS) {
			fprintf(stderr, "bench_net: --netns takes at most %d paths\n", MAX_NETNS);
			goto fail;
		}
		fds[n] = open(p, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			fprintf(stderr, "bench_net: --netns %s: %s\n", p, strerror(errno));
			goto fail;
		}
		paths[n++] = p;
	}
	if (n && opt.slice_ms >= 1)
		return n;
	fprintf(stderr, "bench_net: --netns needs a path and --slice-ms >= 1\n");
fail:
	while (n--)
		close(fds[n]);
	return -1;
}

/*
 * Give each of n namespaces a slice of --slice-ms in turn, starting with a
 * different one each round (none always follows another), until each had
 * --seconds: slice(i, until, ctx) runs namespace i's work. spent[i] gets each
 * one's time. 0, or the first slice's non-zero answer.
 */
static int take_turns(int n, int (*slice)(int i, double until, void *ctx), void *ctx,
		      double spent[MAX_NETNS])
{
	double t0, len = opt.slice_ms / 1000.0;
	int round, k, i, err;

	for (round = 0; spent[0] < opt.seconds && !stop; round++) {
		for (k = 0; k < n && !stop; k++) {
			i = (k + round) % n;
			t0 = now();
			err = slice(i, t0 + len, ctx);
			if (err)
				return err;
			spent[i] += now() - t0;
		}
	}
	return 0;
}

struct udp_turns {
	int socks[MAX_NETNS];
	uint64_t seq[MAX_NETNS];
	struct flood *f;
};

static int udp_slice(int i, double until, void *ctx)
{
	struct udp_turns *u = ctx;

	return flood_until(u->socks[i], u->f, &u->seq[i], 0, until) ? 1 : 0;
}

/* udp-flood --netns: a socket connected in each namespace, slices in turn. */
static int udp_flood_netns(const struct sockaddr_storage *ss, socklen_t sl, struct flood *f)
{
	struct udp_turns u = { .f = f };
	double spent[MAX_NETNS] = { 0 };
	char *paths[MAX_NETNS];
	int fds[MAX_NETNS], n = open_netns(fds, paths), made = 0, i, rc = 0;

	if (n < 0)
		return 2;
	if (opt.pps > 0) {
		fprintf(stderr, "bench_net: --pps does not go with --netns\n");
		rc = 2;
		goto out;
	}
	for (made = 0; made < n; made++) {
		if (setns(fds[made], CLONE_NEWNET)) {
			fprintf(stderr, "bench_net: setns %s: %s\n", paths[made], strerror(errno));
			rc = 1;
			goto out;
		}
		u.socks[made] = socket(ss->ss_family, SOCK_DGRAM, 0);
		if (u.socks[made] < 0 || connect(u.socks[made], (const struct sockaddr *)ss, sl)) {
			fprintf(stderr, "bench_net: udp connect in %s: %s\n", paths[made],
				strerror(errno));
			if (u.socks[made] >= 0)
				close(u.socks[made]);
			rc = 1;
			goto out;
		}
	}
	if (take_turns(n, udp_slice, &u, spent)) {
		perror("bench_net: sendmmsg");
		rc = 1;
	}
	for (i = 0; i < n; i++)
		printf("netns=%s sent=%llu seconds=%.3f pps=%.0f\n", paths[i],
		       (unsigned long long)u.seq[i], spent[i], spent[i] > 0 ? u.seq[i] / spent[i] : 0);
out:
	while (made--)
		close(u.socks[made]);
	while (n--)
		close(fds[n]);
	return rc;
}

static int udp_flood(void)
{
	static struct flood f;
	struct sockaddr_storage ss;
	socklen_t sl = dst_addr(&ss);
	uint64_t seq = 0;
	double start, t;
	int fd;

	if (!sl)
		return 2;
	if (opt.len < 8 || opt.len > MAX_LEN) {
		fprintf(stderr, "bench_net: --len must be 8..%d\n", MAX_LEN);
		return 2;
	}
	flood_init(&f);
	if (opt.netns)
		return udp_flood_netns(&ss, sl, &f);
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl)) {
		perror("bench_net: udp connect");
		return 1;
	}
	start = now();
	flood_until(fd, &f, &seq, start, start + opt.seconds);
	t = now() - start;
	printf("sent=%llu seconds=%.3f pps=%.0f\n", (unsigned long long)seq, t, seq / t);
	close(fd);
	return 0;
}

static int tcp_accept(void)
{
	uint64_t accepted = 0;
	double first = 0, last = 0;
	int fd = bound_socket(SOCK_STREAM), c;

	if (fd < 0) {
		perror("bench_net: tcp listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (wait_readable(fd, accepted > 0)) {
		c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
		if (c < 0)
			continue;
		close(c);
		last = now();
		if (!accepted++)
			first = last;
	}
	printf("accepted=%llu seconds=%.3f\n", (unsigned long long)accepted, last - first);
	close(fd);
	return 0;
}

/*
 * Connect and close until `until` (now() time); adds to *ok and *failed. -1
 * on no socket. close() with SO_LINGER 0: the client resets instead of
 * keeping TIME_WAIT, so a few seconds of this never run out of ports.
 */
static int connect_loop(const struct sockaddr_storage *ss, socklen_t sl, double until,
			uint64_t *ok, uint64_t *failed)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd, one = 1;

	while (now() < until && !stop) {
		fd = socket(ss->ss_family, SOCK_STREAM, 0);
		if (fd < 0) {
			perror("bench_net: socket");
			return -1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		if (connect(fd, (const struct sockaddr *)ss, sl) == 0)
			(*ok)++;
		else
			(*failed)++;
		close(fd);
	}
	return 0;
}

struct tcp_turns {
	const struct sockaddr_storage *ss;
	socklen_t sl;
	int *fds;
	char **paths;
	uint64_t ok[MAX_NETNS], failed[MAX_NETNS];
};

static int tcp_slice(int i, double until, void *ctx)
{
	struct tcp_turns *t = ctx;

	if (setns(t->fds[i], CLONE_NEWNET)) {
		fprintf(stderr, "bench_net: setns %s: %s\n", t->paths[i], strerror(errno));
		return 1;
	}
	return connect_loop(t->ss, t->sl, until, &t->ok[i], &t->failed[i]) ? 1 : 0;
}

/* tcp-connect --netns: slices in each namespace in turn (see the top). */
static int tcp_connect_netns(const struct sockaddr_storage *ss, socklen_t sl)
{
	char *paths[MAX_NETNS];
	int fds[MAX_NETNS], n = open_netns(fds, paths), i, rc = 0;
	struct tcp_turns t = { .ss = ss, .sl = sl, .fds = fds, .paths = paths };
	double spent[MAX_NETNS] = { 0 };

	if (n < 0)
		return 2;
	if (take_turns(n, tcp_slice, &t, spent))
		rc = 1;
	for (i = 0; i < n; i++) {
		printf("netns=%s connections=%llu failed=%llu seconds=%.3f per_sec=%.0f\n", paths[i],
		       (unsigned long long)t.ok[i], (unsigned long long)t.failed[i], spent[i],
		       spent[i] > 0 ? t.ok[i] / spent[i] : 0);
		if (t.failed[i] && !t.ok[i])
			rc = 1;
	}
	while (n--)
		close(fds[n]);
	return rc;
}

static int tcp_connect(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = dst_addr(&ss);
	uint64_t ok = 0, failed = 0;
	double start, t;

	if (!sl)
		return 2;
	if (opt.netns)
		return tcp_connect_netns(&ss, sl);
	start = now();
	if (connect_loop(&ss, sl, start + opt.seconds, &ok, &failed))
		return 1;
	t = now() - start;
	printf("connections=%llu failed=%llu seconds=%.3f per_sec=%.0f\n",
	       (unsigned long long)ok, (unsigned long long)failed, t, ok / t);
	return failed && !ok ? 1 : 0;
}

static int tcp_sink(void)
{
	static char buf[1 << 16];
	uint64_t bytes = 0;
	double first = 0, last = 0;
	int fd = bound_socket(SOCK_STREAM), c;
	ssize_t n;

	if (fd < 0) {
		perror("bench_net: tcp listen");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (!wait_readable(fd, false) || (c = accept(fd, NULL, NULL)) < 0) {
		printf("bytes=0 seconds=0\n");
		return 1;
	}
	first = now();
	while (wait_readable(c, true) && (n = read(c, buf, sizeof(buf))) > 0) {
		bytes += n;
		last = now();
	}
	printf("bytes=%llu seconds=%.3f\n", (unsigned long long)bytes, last - first);
	close(c);
	close(fd);
	return 0;
}

static int tcp_stream(void)
{
	static char buf[1 << 16];
	struct sockaddr_storage ss;
	socklen_t sl = dst_addr(&ss), il;
	struct tcp_info ti = {};
	uint64_t bytes = 0;
	double start, end;
	int fd;

	if (!sl)
		return 2;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return 1;
	if (opt.rate > 0) {
		/* TCP paces itself to this rate (no fq qdisc needed since Linux 4.13) */
		unsigned long long r = opt.rate;

		setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &r, sizeof(r));
	}
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		perror("bench_net: tcp-stream connect");
		return 1;
	}
	start = now();
	end = start + opt.seconds;
	while (now() < end && !stop) {
		ssize_t n = write(fd, buf, sizeof(buf));

		if (n < 0 && errno != EINTR)
			break;
		if (n > 0)
			bytes += n;
	}
	il = sizeof(ti);
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &il);
	printf("bytes=%llu seconds=%.3f retransmits=%u\n", (unsigned long long)bytes,
	       now() - start, ti.tcpi_total_retrans);
	close(fd);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_net udp-sink|udp-flood|tcp-accept|tcp-connect|tcp-sink|tcp-stream\n"
		   "       [--dst ADDR] [--port P] [--seconds S] [--len L] [--pps R] [--rate B/s]\n"
		   "       [--idle-ms MS] [--netns PATH,PATH... [--slice-ms MS]]\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' },
		{ "len", required_argument, NULL, 'l' },
		{ "pps", required_argument, NULL, 'r' },
		{ "rate", required_argument, NULL, 'R' },
		{ "idle-ms", required_argument, NULL, 'i' },
		{ "netns", required_argument, NULL, 'n' },
		{ "slice-ms", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *mode;
	int c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "d:p:s:l:r:R:i:n:S:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			opt.dst = optarg;
			break;
		case 'p':
			opt.port = atoi(optarg);
			break;
		case 's':
			opt.seconds = atof(optarg);
			break;
		case 'l':
			opt.len = atoi(optarg);
			break;
		case 'r':
			opt.pps = atof(optarg);
			break;
		case 'R':
			opt.rate = atof(optarg);
			break;
		case 'i':
			opt.idle_ms = atoi(optarg);
			break;
		case 'n':
			opt.netns = optarg;
			break;
		case 'S':
			opt.slice_ms = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (opt.port < 1 || opt.port > 65535) {
		fprintf(stderr, "bench_net: --port 1..65535 is required\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "tcp-sink"))
		return tcp_sink();
	if (!strcmp(mode, "tcp-stream"))
		return tcp_stream();
	if (!strcmp(mode, "udp-sink"))
		return udp_sink();
	if (!strcmp(mode, "udp-flood"))
		return udp_flood();
	if (!strcmp(mode, "tcp-accept"))
		return tcp_accept();
	if (!strcmp(mode, "tcp-connect"))
		return tcp_connect();
	usage(stderr);
	return 2;
}
