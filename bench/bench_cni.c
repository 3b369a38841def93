// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * CNI ADD overhead of netfence-cni over the bridge plugin (SPEC §9), timed
 * the way a runtime pays for it: fork+exec of each plugin with the CNI
 * environment and the config on stdin, wall clock from fork to exit.
 *
 *   bridge alone:  bridge ADD
 *   chain:         bridge ADD, then netfence-cni ADD with the bridge's result
 *                  as prevResult (what libcni does for a conflist)
 *
 * Sequential: --count pods, one at a time, bridge-alone and chain samples
 * alternating. Parallel: batches of --parallel pods started at once,
 * bridge-alone and chain batches alternating, until --count samples of each.
 * Every pod is deleted again (netfence-cni DEL, then bridge DEL; not timed),
 * so the pod namespaces (--netns-prefix + 0..parallel-1, created by the
 * caller) are reused. Run it inside a network namespace standing in for the
 * host: the bridge and the host ends of the veths are created there.
 *
 * Prints four Markdown rows (sequential/parallel x p50/p99) on stdout.
 *
 * --samples: only --count sequential chain ADDs, and for each netfence-cni's
 * own ADD: wall time and CPU time (user + system) in ms, then its DEL's wall
 * time, a line each (the rows with 1,000 endpoints on
 * the node and without them are made from these by bench/lib/cni.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define MAX_PAR		64
#define OUT_MAX		(64 * 1024)

static struct {
	const char *cni_path;		/* CNI_PATH: where bridge and host-local are */
	const char *bridge;		/* the bridge plugin binary */
	const char *nf_plugin;		/* netfence-cni binary */
	const char *netns_prefix;	/* /var/run/netns/nfb-pod */
	const char *tenant;
	const char *subnet;
	const char *ipam_dir;
	int count;
	int parallel;
	bool samples;
	const char *tag;		/* --tag: reported rows of a variant */
} cfg = {
	.cni_path = "/usr/lib/cni",
	.bridge = "/usr/lib/cni/bridge",
	.nf_plugin = "build/netfence-cni",
	.netns_prefix = "/var/run/netns/nfb-pod",
	.tenant = "nfbench-cni",
	.subnet = "10.201.0.0/16",
	.ipam_dir = "/run/nfbench/ipam",
	.count = 100,
	.parallel = 20,
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Run plugin `bin` with the CNI environment and `conf` on stdin. The plugin's
 * stdout goes to out (NUL-terminated, may be NULL). Returns the exit status
 * (or -errno), *secs the wall time from fork to exit, *cpu (may be NULL)
 * the CPU time the plugin used (user + system).
 */
static int run_plugin(const char *bin, const char *cmd, const char *cid, const char *netns,
		      const char *conf, char *out, double *secs, double *cpu)
{
	struct rusage ru = {};
	int in[2], o[2], status = 0;
	size_t used = 0, clen = strlen(conf);
	double t0;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC))
		return -errno;
	t0 = now();
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char e_cmd[32], e_cid[128], e_ns[256], e_path[512];
		char e_hook[64];
		const char *hook = getenv("NETFENCE_TC_HOOK");
		char *envp[] = { e_cmd, e_cid, e_ns, "CNI_IFNAME=eth0", e_path,
				 "PATH=/usr/sbin:/usr/bin:/sbin:/bin", hook ? e_hook : NULL, NULL };
		char *argv[] = { (char *)bin, NULL };

		snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", cmd);
		snprintf(e_cid, sizeof(e_cid), "CNI_CONTAINERID=%s", cid);
		snprintf(e_ns, sizeof(e_ns), "CNI_NETNS=%s", netns);
		snprintf(e_path, sizeof(e_path), "CNI_PATH=%s", cfg.cni_path);
		if (hook)
			snprintf(e_hook, sizeof(e_hook), "NETFENCE_TC_HOOK=%s", hook);
		dup2(in[0], 0);
		dup2(o[1], 1);
		execve(bin, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	/* configs are small: one write fits the pipe */
	if (write(in[1], conf, clen) != (ssize_t)clen)
		status = -EPIPE;
	close(in[1]);
	for (;;) {
		char sink[4096];
		char *buf = out ? out + used : sink;
		size_t room = out ? OUT_MAX - 1 - used : sizeof(sink);
		ssize_t n = read(o[0], buf, room);

		if (n <= 0)
			break;
		if (out)
			used += n;
		if (out && used >= OUT_MAX - 1)
			break;
	}
	if (out)
		out[used] = 0;
	close(o[0]);
	wait4(pid, &status, 0, &ru);
	*secs = now() - t0;
	if (cpu)
		*cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		       ru.ru_stime.tv_usec / 1e6;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
}

static void bridge_conf(char *buf, size_t len)
{
	snprintf(buf, len,
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"nfbench\",\"type\":\"bridge\","
		 "\"bridge\":\"nfb-br0\",\"isGateway\":true,\"ipMasq\":false,"
		 "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"%s\",\"dataDir\":\"%s\"}}",
		 cfg.subnet, cfg.ipam_dir);
}

static void nf_conf(char *buf, size_t len, const char *prev)
{
	snprintf(buf, len,
		 "{\"cniVersion\":\"1.0.0\",\"name\":\"nfbench\",\"type\":\"netfence-cni\","
		 "\"tenant\":\"%s\",\"prevResult\":%s}",
		 cfg.tenant, prev && *prev ? prev : "{}");
}

struct pod {
	int slot;		/* netns index */
	int seq;		/* container id number */
	bool chain;
	double secs;		/* ADD time: bridge, or bridge + netfence-cni */
	double nf_secs;		/* netfence-cni's ADD alone: wall time */
	double nf_cpu;		/* and CPU time */
	double nf_del_secs;	/* netfence-cni's DEL: wall time */
	int err;		/* 0, or which step failed */
	char msg[256];
};

/* One line, no Markdown table separators. */
static void clean_msg(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '|')
			*s = ' ';
}

static void *pod_add(void *arg)
{
	struct pod *p = arg;
	char ns[256], cid[64], bconf[512];
	char *out = malloc(OUT_MAX), *conf = malloc(OUT_MAX + 512);
	double t_b = 0, t_n = 0, t;
	int rc;

	if (!out || !conf) {
		p->err = 1;
		snprintf(p->msg, sizeof(p->msg), "out of memory");
		goto done;
	}
	snprintf(ns, sizeof(ns), "%s%d", cfg.netns_prefix, p->slot);
	snprintf(cid, sizeof(cid), "nfbench%06d", p->seq);
	bridge_conf(bconf, sizeof(bconf));
	rc = run_plugin(cfg.bridge, "ADD", cid, ns, bconf, out, &t_b, NULL);
	if (rc) {
		p->err = 1;
		snprintf(p->msg, sizeof(p->msg), "bridge ADD exit %d: %.200s", rc, out);
		goto done;
	}
	if (p->chain) {
		nf_conf(conf, OUT_MAX + 512, out);
		rc = run_plugin(cfg.nf_plugin, "ADD", cid, ns, conf, out, &t_n, &p->nf_cpu);
		if (rc) {
			p->err = 2;
			snprintf(p->msg, sizeof(p->msg), "netfence-cni ADD exit %d: %.200s", rc,
				 out);
		}
		nf_conf(conf, OUT_MAX + 512, NULL);
		run_plugin(cfg.nf_plugin, "DEL", cid, ns, conf, NULL, &p->nf_del_secs, NULL);
	}
	run_plugin(cfg.bridge, "DEL", cid, ns, bconf, NULL, &t, NULL);
	p->secs = t_b + t_n;
	p->nf_secs = t_n;
done:
	clean_msg(p->msg);
	free(out);
	free(conf);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile (p in 0..1) of n sorted values. */
static double pct(const double *v, int n, double p)
{
	int i = (int)(p * n + 0.999999) - 1;

	if (n <= 0)
		return 0;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void print_rows(const char *mode, double *b, int nb, double *c, int nc, const char *err)
{
	static const double ps[] = { 0.50, 0.99 };
	static const char *pn[] = { "p50", "p99" };
	int i;

	qsort(b, nb, sizeof(*b), cmp_double);
	qsort(c, nc, sizeof(*c), cmp_double);
	for (i = 0; i < 2; i++) {
		double pb = pct(b, nb, ps[i]) * 1e3, pc = pct(c, nc, ps[i]) * 1e3;

		if (err || !nb || !nc) {
			printf("| CNI ADD%s%s, %s, %s (%d pods) | n/a (%s) | bridge %.1f ms | n/a | %s | n/a |\n",
			       cfg.tag ? ", " : "", cfg.tag ? cfg.tag : "", mode, pn[i], cfg.count,
			       err ? err : "no samples", pb, cfg.tag ? "report" : "≤ 1.50x bridge");
			continue;
		}
		printf("| CNI ADD%s%s, %s, %s (%d pods) | bridge+netfence-cni %.1f ms | bridge %.1f ms | %.2fx | %s | %s |\n",
		       cfg.tag ? ", " : "", cfg.tag ? cfg.tag : "", mode, pn[i], nc, pc, pb, pc / pb,
		       cfg.tag ? "report" : "≤ 1.50x bridge",
		       cfg.tag ? "report" : pc / pb <= 1.5 ? "yes" : "NO");
	}
	fflush(stdout);
}

/* --samples: netfence-cni's ADD time (wall, CPU) of --count sequential chain
 * ADDs, and the wall time of the netfence-cni DEL after each. */
static int nf_samples(void)
{
	struct pod p;
	int i;

	/* i = -1: one ADD first, not counted (a datapath loaded by it, caches) */
	for (i = -1; i < cfg.count; i++) {
		p = (struct pod){ .slot = 0, .seq = i + 1, .chain = true };
		pod_add(&p);
		if (p.err) {
			fprintf(stderr, "bench_cni: %s\n", p.msg);
			return 1;
		}
		if (i >= 0)
			printf("%.3f %.3f %.3f\n", p.nf_secs * 1e3, p.nf_cpu * 1e3,
			       p.nf_del_secs * 1e3);
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "cni-path", required_argument, NULL, 'c' },
		{ "bridge", required_argument, NULL, 'b' },
		{ "plugin", required_argument, NULL, 'n' },
		{ "netns-prefix", required_argument, NULL, 'p' },
		{ "tenant", required_argument, NULL, 't' },
		{ "subnet", required_argument, NULL, 's' },
		{ "ipam-dir", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'N' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "samples", no_argument, NULL, 'S' },
		{ "tag", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	static struct pod pods[MAX_PAR];
	double *b, *c;
	int opt, nb, nc, i, seq = 0, mode;
	char err[300];

	while ((opt = getopt_long(argc, argv, "c:b:n:p:t:s:i:N:P:ST:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'c': cfg.cni_path = optarg; break;
		case 'b': cfg.bridge = optarg; break;
		case 'n': cfg.nf_plugin = optarg; break;
		case 'p': cfg.netns_prefix = optarg; break;
		case 't': cfg.tenant = optarg; break;
		case 's': cfg.subnet = optarg; break;
		case 'i': cfg.ipam_dir = optarg; break;
		case 'N': cfg.count = atoi(optarg); break;
		case 'P': cfg.parallel = atoi(optarg); break;
		case 'S': cfg.samples = true; break;
		case 'T': cfg.tag = optarg; break;
		case 'h':
			printf("usage: bench_cni [--count N] [--parallel P] [--samples] [--plugin PATH] "
			       "[--netns-prefix PREFIX] [--tenant T] [--cni-path DIR] [--bridge PATH]\n"
			       "       [--tag TEXT]  (rows named with TEXT, reported, no target)\n");
			return 0;
		default:
			return 2;
		}
	}
	if (cfg.count < 1 || cfg.parallel < 1 || cfg.parallel > MAX_PAR)
		return 2;
	if (cfg.samples)
		return nf_samples();
	b = calloc(cfg.count + MAX_PAR, sizeof(*b));
	c = calloc(cfg.count + MAX_PAR, sizeof(*c));
	if (!b || !c)
		return 1;

	/* one chain ADD first, not counted: a datapath loaded by it (a fresh
	 * node), the plugins' pages in the cache */
	pods[0] = (struct pod){ .slot = 0, .seq = seq++, .chain = true };
	pod_add(&pods[0]);
	for (mode = 0; mode < 2; mode++) {
		int width = mode ? cfg.parallel : 1;

		nb = nc = 0;
		err[0] = 0;
		while ((nb < cfg.count || nc < cfg.count) && !err[0]) {
			bool chain;

			for (chain = false; ; chain = true) {
				pthread_t th[MAX_PAR];

				for (i = 0; i < width; i++) {
					pods[i] = (struct pod){ .slot = i, .seq = seq++, .chain = chain };
					pthread_create(&th[i], NULL, pod_add, &pods[i]);
				}
				for (i = 0; i < width; i++)
					pthread_join(th[i], NULL);
				for (i = 0; i < width; i++) {
					if (pods[i].err == 1) {
						/* the bridge itself failed: nothing to compare */
						fprintf(stderr, "bench_cni: %s\n", pods[i].msg);
						printf("| CNI ADD | n/a (%s) | n/a | n/a | ≤ 1.50x bridge | n/a |\n",
						       "bridge plugin failed");
						return 1;
					}
					if (pods[i].err == 2) {
						snprintf(err, sizeof(err), "%.250s", pods[i].msg);
						fprintf(stderr, "bench_cni: %s\n", pods[i].msg);
						continue;
					}
					if (chain && nc < cfg.count)
						c[nc++] = pods[i].secs;
					else if (!chain && nb < cfg.count)
						b[nb++] = pods[i].secs;
				}
				if (chain)
					break;
			}
		}
		{
			char label[32];

			snprintf(label, sizeof(label), mode ? "%d in parallel" : "sequential",
				 cfg.parallel);
			print_rows(label, b, nb, c, nc, err[0] ? err : NULL);
		}
	}
	free(b);
	free(c);
	return 0;
}
