// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The /metrics row of `make bench` (SPEC §9: GET /metrics with 4,000 tenants
 * answers in < 100 ms).
 *
 *   bench_metrics seed --prefix P [--keys K]
 *       Counters for every loaded tenant whose name starts with P: K keys
 *       (direction, reason, hook) each in nf_stats, per-CPU values as the
 *       datapath keeps them, written into the node's pinned map. Counting
 *       real drops for 4,000 tenants would need 4,000 endpoints and their
 *       traffic; what /metrics reads is the same map. Prints "tenants=N
 *       keys=N".
 *   bench_metrics get --port P [--addr A] [--count N]
 *       N GETs of /metrics, one after another, each on a new connection
 *       (connect to the last byte), after one not counted. Prints each
 *       time in ms, a line each, and "bytes=N" of the last answer on
 *       stderr. Exit 1 if an answer is not a 200.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int seed(const char *prefix, int keys)
{
	static const struct { __u8 dir, reason, hook; } kinds[] = {
		{ NF_DIR_INGRESS, NF_REASON_ALLOWED_FLOW, NF_HOOK_TC },
		{ NF_DIR_EGRESS, NF_REASON_ALLOWED_FLOW, NF_HOOK_TC },
		{ NF_DIR_INGRESS, NF_DROP_POLICY, NF_HOOK_TC },
		{ NF_DIR_EGRESS, NF_DROP_POLICY, NF_HOOK_TC },
		{ NF_DIR_INGRESS, NF_DROP_SPOOFED, NF_HOOK_TC },
		{ NF_DIR_EGRESS, NF_DROP_SPOOFED, NF_HOOK_TC },
	};
	int ncpus = libbpf_num_possible_cpus(), fd, err, n_ten = 0, n_keys = 0, k, c;
	struct nf_counter *vals;
	struct nf_dp *dp;
	uint32_t id;

	if (keys < 1 || keys > (int)(sizeof(kinds) / sizeof(kinds[0])) || ncpus <= 0)
		return 2;
	err = dp__open(&dp, false);
	if (err) {
		fprintf(stderr, "bench_metrics: no datapath: %s\n", strerror(-err));
		return 1;
	}
	fd = dp__maps(dp)->fd[NF_MAP_STATS];
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return 1;
	for (id = 1; id < NF_MAX_TENANTS; id++) {
		char name[NF_TENANT_NAME_LEN];

		if (dp__tenant_name(dp, id, name, sizeof(name)) ||
		    strncmp(name, prefix, strlen(prefix)))
			continue;
		n_ten++;
		for (k = 0; k < keys; k++) {
			struct nf_stats_key key = { .tenant_id = id, .dir = kinds[k].dir,
						    .reason = kinds[k].reason,
						    .hook = kinds[k].hook };

			for (c = 0; c < ncpus; c++)
				vals[c] = (struct nf_counter){ .packets = id * 7 + k + c,
							       .bytes = (id * 7 + k + c) * 90 };
			if (bpf_map_update_elem(fd, &key, vals, BPF_ANY)) {
				fprintf(stderr, "bench_metrics: nf_stats: %s\n", strerror(errno));
				free(vals);
				dp__close(dp);
				return 1;
			}
			n_keys++;
		}
	}
	printf("tenants=%d keys=%d\n", n_ten, n_keys);
	free(vals);
	dp__close(dp);
	return 0;
}

/* One GET: its time (s), or < 0 when it failed; *bytes the answer's size. */
static double get_once(const struct sockaddr_in *sa, size_t *bytes)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: bench\r\n"
				  "Connection: close\r\n\r\n";
	char buf[65536], head[16] = "";
	size_t got = 0;
	double t0 = now();
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (got < sizeof(head) - 1)
			memcpy(head + got, buf,
			       (size_t)n < sizeof(head) - 1 - got ? (size_t)n : sizeof(head) - 1 - got);
		got += n;
	}
	t0 = now() - t0;
	close(fd);
	*bytes = got;
	return n == 0 && !strncmp(head, "HTTP/1.1 200", 12) ? t0 : -1;
}

static int get(const char *addr, int port, int count)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	size_t bytes = 0;
	double t;
	int i;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 || count < 1)
		return 2;
	for (i = -1; i < count; i++) {
		t = get_once(&sa, &bytes);
		if (t < 0) {
			fprintf(stderr, "bench_metrics: GET http://%s:%d/metrics failed\n", addr,
				port);
			return 1;
		}
		if (i >= 0)
			printf("%.3f\n", t * 1e3);
	}
	fprintf(stderr, "bytes=%zu\n", bytes);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "prefix", required_argument, NULL, 'p' },
		{ "keys", required_argument, NULL, 'k' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'P' },
		{ "count", required_argument, NULL, 'n' },
		{},
	};
	const char *prefix = NULL, *addr = "127.0.0.1";
	int opt, keys = 4, port = 0, count = 50;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_metrics seed --prefix P [--keys K] | "
				"get --port P [--addr A] [--count N]\n");
		return 2;
	}
	optind = 2;
	while ((opt = getopt_long(argc, argv, "p:k:a:P:n:", lopts, NULL)) != -1) {
		switch (opt) {
		case 'p': prefix = optarg; break;
		case 'k': keys = atoi(optarg); break;
		case 'a': addr = optarg; break;
		case 'P': port = atoi(optarg); break;
		case 'n': count = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!strcmp(argv[1], "seed") && prefix)
		return seed(prefix, keys);
	if (!strcmp(argv[1], "get") && port > 0)
		return get(addr, port, count);
	fprintf(stderr, "bench_metrics: bad usage\n");
	return 2;
}
