// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The bench's reference programs (bpf/bench_ref.bpf.c) do what the bench
 * says they do: both load and return TC_ACT_OK, and the stateful floor keeps
 * exactly one LRU entry per distinct flow (IPv4 and IPv6).
 * Skipped without the privileges to load BPF programs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <cmocka.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "bench_ref.skel.h"

struct pkt4 {
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

struct pkt6 {
	struct ethhdr eth;
	struct ipv6hdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

static struct pkt4 make4(uint32_t saddr, uint16_t sport)
{
	struct pkt4 p = {};

	p.eth.h_proto = htons(ETH_P_IP);
	p.ip.version = 4;
	p.ip.ihl = 5;
	p.ip.ttl = 64;
	p.ip.protocol = IPPROTO_TCP;
	p.ip.tot_len = htons(sizeof(p) - sizeof(p.eth));
	p.ip.saddr = htonl(saddr);
	p.ip.daddr = htonl(0x0a000001);
	p.tcp.source = htons(sport);
	p.tcp.dest = htons(80);
	p.tcp.doff = 5;
	p.tcp.ack = 1;
	return p;
}

static struct pkt6 make6(uint8_t last, uint16_t sport)
{
	struct pkt6 p = {};

	p.eth.h_proto = htons(ETH_P_IPV6);
	p.ip.version = 6;
	p.ip.nexthdr = IPPROTO_TCP;
	p.ip.hop_limit = 64;
	p.ip.payload_len = htons(sizeof(p.tcp));
	inet_pton(AF_INET6, "fd00::1", &p.ip.saddr);
	p.ip.saddr.s6_addr[15] = last;
	inet_pton(AF_INET6, "fd00::2", &p.ip.daddr);
	p.tcp.source = htons(sport);
	p.tcp.dest = htons(80);
	p.tcp.doff = 5;
	p.tcp.ack = 1;
	return p;
}

/* Run prog once on data; returns the program's return value, or -errno. */
static int run(int prog_fd, void *data, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = len, .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	return err ? -errno : (int)opts.retval;
}

static size_t count_entries(int map_fd)
{
	uint8_t key[64], next[64];
	size_t n = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(map_fd, prev, next) == 0) {
		memcpy(key, next, sizeof(key));
		prev = key;
		n++;
	}
	return n;
}

static int setup(void **state)
{
	struct bench_ref_bpf *skel = bench_ref_bpf__open_and_load();

	if (!skel)
		return -1;
	*state = skel;
	return 0;
}

static int teardown(void **state)
{
	bench_ref_bpf__destroy(*state);
	return 0;
}

static void test_noop_returns_ok(void **state)
{
	struct bench_ref_bpf *skel = *state;
	struct pkt4 p = make4(0x0a000002, 1000);

	assert_int_equal(run(bpf_program__fd(skel->progs.ref_noop), &p, sizeof(p)), 0);
}

static void test_floor_one_entry_per_flow(void **state)
{
	struct bench_ref_bpf *skel = *state;
	int prog = bpf_program__fd(skel->progs.ref_floor);
	int flows = bpf_map__fd(skel->maps.ref_flows);
	int round, i;

	/* 3 IPv4 flows (two differ only by source port) and 2 IPv6 flows, each sent twice. */
	for (round = 0; round < 2; round++) {
		struct pkt4 a = make4(0x0a000002, 1000), b = make4(0x0a000002, 1001);
		struct pkt4 c = make4(0x0a000003, 1000);
		struct pkt6 d = make6(1, 1000), e = make6(7, 1000);

		assert_int_equal(run(prog, &a, sizeof(a)), 0);
		assert_int_equal(run(prog, &b, sizeof(b)), 0);
		assert_int_equal(run(prog, &c, sizeof(c)), 0);
		assert_int_equal(run(prog, &d, sizeof(d)), 0);
		assert_int_equal(run(prog, &e, sizeof(e)), 0);
		assert_int_equal(count_entries(flows), 5);
	}

	/* The per-CPU counter saw all 10 packets (test runs may move between CPUs). */
	{
		int ncpu = libbpf_num_possible_cpus();
		uint64_t vals[ncpu > 0 ? ncpu : 1], sum = 0;
		uint32_t zero = 0;

		assert_true(ncpu > 0);
		assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.ref_packets), &zero,
						     vals), 0);
		for (i = 0; i < ncpu; i++)
			sum += vals[i];
		assert_int_equal(sum, 10);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noop_returns_ok),
		cmocka_unit_test(test_floor_one_entry_per_flow),
	};
	struct bench_ref_bpf *probe = bench_ref_bpf__open_and_load();

	if (!probe) {
		/* No CAP_BPF (or no BPF at all): nothing to test here. */
		print_message("[  SKIPPED ] test_bench_ref: cannot load BPF programs (%s)\n",
			      strerror(errno));
		return 0;
	}
	bench_ref_bpf__destroy(probe);
	return cmocka_run_group_tests(tests, setup, teardown);
}
