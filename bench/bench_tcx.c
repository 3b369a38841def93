// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attach a pinned tc program to an interface through tcx, ingress and
 * egress, for the veth rows of `make bench`: the stateful floor through the
 * same hook as netfence's default, beside the floor as a cls_bpf filter.
 * bpftool 7.1 (Debian 12) and libbpf 1.1 predate tcx; this uses the same
 * BPF_PROG_ATTACH as netfence (dp_tcx_attach). Run it inside the
 * interface's network namespace; the programs stay until the interface goes.
 *
 *   bench_tcx --pin /sys/fs/bpf/.../ref_floor --iface nfb0
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "dp/dp_internal.h"

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "pin", required_argument, NULL, 'p' },
		{ "iface", required_argument, NULL, 'i' },
		{},
	};
	const char *pin = NULL, *iface = NULL;
	int c, fd, ifindex, err;

	while ((c = getopt_long(argc, argv, "p:i:", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pin = optarg;
			break;
		case 'i':
			iface = optarg;
			break;
		default:
			fprintf(stderr, "usage: bench_tcx --pin PATH --iface NAME\n");
			return 2;
		}
	}
	if (!pin || !iface) {
		fprintf(stderr, "usage: bench_tcx --pin PATH --iface NAME\n");
		return 2;
	}
	ifindex = (int)if_nametoindex(iface);
	if (!ifindex) {
		fprintf(stderr, "bench_tcx: no interface %s here: %s\n", iface, strerror(errno));
		return 1;
	}
	fd = bpf_obj_get(pin);
	if (fd < 0) {
		fprintf(stderr, "bench_tcx: %s: %s\n", pin, strerror(errno));
		return 1;
	}
	err = dp_tcx_attach(ifindex, NF_TCX_INGRESS, fd, 0, 0);
	if (!err)
		err = dp_tcx_attach(ifindex, NF_TCX_EGRESS, fd, 0, 0);
	close(fd);
	if (err) {
		fprintf(stderr, "bench_tcx: attaching %s to %s through tcx: %s\n", pin, iface,
			strerror(-err));
		return 1;
	}
	return 0;
}
