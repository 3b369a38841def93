// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netfence monitor [--json] [--count N] [--timeout SEC]
 *
 * Live stream of drop events from the nf_events ring buffer, one line per
 * event. With --json the output is JSON Lines: every line is one complete
 * JSON document (SPEC §5's "one JSON document" is about the one-shot
 * commands; a stream has one document per event). Events the kernel could
 * not queue (ring full or rate limit, counted per CPU in nf_events_lost) are
 * reported once a second as "lost N events" / {"lost":N}.
 *
 * Only events from after the start are printed: the ring buffer may still
 * hold events nobody consumed earlier.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include "cmd.h"
#include "datapath.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: netfence monitor [--json] [--count N] [--timeout SEC]\n"
		   "\n"
		   "Print drop events as they happen, one line each: time, tenant, direction,\n"
		   "reason, hook, protocol, source -> destination, and the interface or cgroup.\n"
		   "\n"
		   "  --json          one JSON object per line (JSON Lines)\n"
		   "  --count N       exit after N events\n"
		   "  --timeout SEC   exit after SEC seconds (exit 1 if --count was not reached)\n"
		   "  -h, --help      this help\n"
		   "\n"
		   "Events lost by the kernel (rate limit or full buffer) are reported as\n"
		   "\"lost N events\" ({\"lost\":N} with --json). Stops on SIGINT/SIGTERM.\n");
}

struct mon {
	struct nf_dp *dp;
	bool json;
	long count; /* 0: unlimited */
	long printed;
	uint64_t start_ns; /* CLOCK_MONOTONIC at start: older events are stale */
	int64_t mono_to_real; /* realtime - monotonic, ns */
	struct nf_ep_record *eps;
	size_t n_eps;
	time_t eps_loaded;
	char cg_root[PATH_MAX];
};

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void format_time(const struct mon *mo, uint64_t ts_ns, char *buf, size_t len)
{
	int64_t real = (int64_t)ts_ns + mo->mono_to_real;
	time_t sec = real / 1000000000;
	struct tm tm;
	char t[32];

	gmtime_r(&sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", t, (int)((real % 1000000000) / 1000000));
}

static void load_endpoints(struct mon *mo)
{
	struct nf_ep_record *eps = NULL;
	size_t n = 0;

	mo->eps_loaded = time(NULL);
	if (dp__list_endpoints(mo->dp, &eps, &n))
		return;
	free(mo->eps);
	mo->eps = eps;
	mo->n_eps = n;
}

static const struct nf_ep_record *find_ep(const struct mon *mo, const struct nf_event *e)
{
	size_t i;

	for (i = 0; i < mo->n_eps; i++) {
		const struct nf_ep_record *r = &mo->eps[i];

		struct nf_ep_key k;

		dp__ep_key(r, &k);
		if (e->hook == NF_HOOK_TC && !r->is_cgroup && k.ifindex == e->ifindex &&
		    k.netns_cookie == e->scope)
			return r;
		if (e->hook == NF_HOOK_CGROUP && r->is_cgroup && r->cgroup_id == e->scope)
			return r;
	}
	return NULL;
}

/* A cgroup id is the inode number of its cgroup2 directory: look for it under
 * the tenant's fenced cgroups (the event's cgroup may be a descendant). */
static bool find_cgroup_dir(const char *dir, uint64_t id, int depth, char *out, size_t len)
{
	struct dirent *de;
	struct stat st;
	bool found = false;
	DIR *d;

	if (stat(dir, &st) == 0 && st.st_ino == id) {
		snprintf(out, len, "%s", dir);
		return true;
	}
	if (depth >= NF_CGROUP_MAX_DEPTH)
		return false;
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub))
			continue;
		found = find_cgroup_dir(sub, id, depth + 1, out, len);
	}
	closedir(d);
	return found;
}

static void resolve_cgroup(const struct mon *mo, const struct nf_event *e, char *out, size_t len)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < mo->n_eps; i++) {
		const struct nf_ep_record *r = &mo->eps[i];

		if (r->is_cgroup && r->tenant_id == e->tenant_id &&
		    find_cgroup_dir(r->cgroup, e->scope, 0, out, len))
			return;
	}
}

static void addr_port(const struct nf_event *e, const __u8 *addr, __be16 port, bool ports,
		      char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	bool v6 = e->family == 6;

	nf_format_addr(addr, a, sizeof(a));
	if (!ports)
		snprintf(buf, len, "%s", a);
	else if (v6)
		snprintf(buf, len, "[%s]:%u", a, ntohs(port));
	else
		snprintf(buf, len, "%s:%u", a, ntohs(port));
}

static bool has_ports(__u8 proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct mon *mo = ctx;
	const struct nf_event *e = data;
	const struct nf_ep_record *ep;
	const char *dir, *reason, *hook, *proto;
	char tenant[NF_TENANT_NAME_LEN] = "", when[48], src[64], dst[64], pbuf[8];
	char cg[PATH_MAX] = "", ifname[sizeof(((struct nf_ep_record *)0)->ifname)] = "";
	const char *netns = NULL;

	if (size < sizeof(*e) || stop)
		return 0;
	if (e->ts_ns < mo->start_ns)
		return 0;
	if (mo->count && mo->printed >= mo->count)
		return 0;

	if (!e->tenant_id || dp__tenant_name(mo->dp, e->tenant_id, tenant, sizeof(tenant)) ||
	    !tenant[0])
		snprintf(tenant, sizeof(tenant), "%s", NF_METRICS_UNKNOWN_TENANT);
	dir = metrics__dir_name(e->dir) ?: "?";
	reason = metrics__reason_name(e->reason) ?: "?";
	hook = metrics__hook_name(e->hook) ?: "?";
	proto = metrics__proto_name(e->proto);
	if (!proto) {
		snprintf(pbuf, sizeof(pbuf), "%u", e->proto);
		proto = pbuf;
	}
	format_time(mo, e->ts_ns, when, sizeof(when));

	ep = find_ep(mo, e);
	if (!ep && mo->eps_loaded != time(NULL)) {
		load_endpoints(mo);
		ep = find_ep(mo, e);
	}
	if (e->hook == NF_HOOK_TC) {
		if (ep) {
			snprintf(ifname, sizeof(ifname), "%s", ep->ifname);
			netns = ep->netns;
		}
	} else if (ep) {
		snprintf(cg, sizeof(cg), "%s", ep->cgroup);
	} else {
		resolve_cgroup(mo, e, cg, sizeof(cg));
	}

	if (mo->json) {
		json_t *o = json_object();
		char *s;

		json_object_set_new(o, "time", json_string(when));
		json_object_set_new(o, "tenant", json_string(tenant));
		json_object_set_new(o, "tenant_id", json_integer(e->tenant_id));
		json_object_set_new(o, "direction", json_string(dir));
		json_object_set_new(o, "reason", json_string(reason));
		json_object_set_new(o, "hook", json_string(hook));
		if (e->family == 4 || e->family == 6)
			json_object_set_new(o, "proto", json_string(proto));
		json_object_set_new(o, "family", json_integer(e->family));
		if (e->family == 4 || e->family == 6) {
			nf_format_addr(e->saddr, src, sizeof(src));
			nf_format_addr(e->daddr, dst, sizeof(dst));
			json_object_set_new(o, "saddr", json_string(src));
			json_object_set_new(o, "daddr", json_string(dst));
		}
		if (has_ports(e->proto)) {
			json_object_set_new(o, "sport", json_integer(ntohs(e->sport)));
			json_object_set_new(o, "dport", json_integer(ntohs(e->dport)));
		}
		json_object_set_new(o, "len", json_integer(e->len));
		if (e->hook == NF_HOOK_TC) {
			json_object_set_new(o, "ifindex", json_integer(e->ifindex));
			if (ifname[0])
				json_object_set_new(o, "ifname", json_string(ifname));
			if (netns)
				json_object_set_new(o, "netns", json_string(netns));
			/* SPEC §12: the interface's network */
			if (ep)
				json_object_set_new(o, "network",
						    json_string(ep->network[0] ? ep->network :
										  NF_NETWORK_DEFAULT));
		} else {
			json_object_set_new(o, "cgroup_id", json_integer((json_int_t)e->scope));
			if (cg[0])
				json_object_set_new(o, "cgroup", json_string(cg));
		}
		if (ep && ep->owner[0])
			json_object_set_new(o, "owner", json_string(ep->owner));
		s = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (s) {
			puts(s);
			free(s);
		}
	} else {
		char where[PATH_MAX + 320];

		char addrs[160];

		if (e->family == 4 || e->family == 6) {
			addr_port(e, e->saddr, e->sport, has_ports(e->proto), src, sizeof(src));
			addr_port(e, e->daddr, e->dport, has_ports(e->proto), dst, sizeof(dst));
			snprintf(addrs, sizeof(addrs), "%s %s -> %s", proto, src, dst);
		} else {
			snprintf(addrs, sizeof(addrs), "non-IP");
		}
		if (e->hook == NF_HOOK_TC)
			snprintf(where, sizeof(where), "if=%u%s%s%s%s%s%s%s", e->ifindex,
				 ifname[0] ? " (" : "", ifname, netns && netns[0] ? " in " : "",
				 netns ? netns : "", ifname[0] ? ")" : "", ep ? " network=" : "",
				 !ep ? "" : ep->network[0] ? ep->network : NF_NETWORK_DEFAULT);
		else if (cg[0])
			snprintf(where, sizeof(where), "cgroup=%s", cg);
		else
			snprintf(where, sizeof(where), "cgroup_id=%llu",
				 (unsigned long long)e->scope);
		printf("%s %s %s %s %s %s len=%u %s\n", when, tenant, dir, reason, hook, addrs,
		       e->len, where);
	}
	fflush(stdout);
	mo->printed++;
	if (mo->count && mo->printed >= mo->count)
		stop = 1;
	return 0;
}

/* The id of the map behind fd, or of the one pinned at NF_PIN_ROOT/name (0: none). */
static __u32 map_id(int fd, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	bool own = fd < 0;

	if (own) {
		snprintf(path, sizeof(path), "%s/%s", NF_PIN_ROOT, name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			return 0;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	if (own)
		close(fd);
	return info.id;
}

/*
 * The pinned ring buffer is another one (an upgrade that resized it, or a
 * reset and reload): follow it, with the datapath and its endpoints, so that
 * the drops the new programs report are seen. Once a second.
 */
static int follow_datapath(struct mon *mo, struct ring_buffer **rb, uint64_t *lost_seen)
{
	__u32 pinned = map_id(-1, "nf_events");
	struct nf_dp *dp;
	int err;

	if (!pinned || pinned == map_id(dp__map_fd(mo->dp, NF_MAP_EVENTS), NULL))
		return 0;	/* unchanged, or nothing loaded now: keep waiting */
	err = dp__open(&dp, false);
	if (err)
		return 0;
	ring_buffer__consume(*rb);	/* what the old one still holds */
	ring_buffer__free(*rb);
	dp__close(mo->dp);
	mo->dp = dp;
	load_endpoints(mo);
	if (metrics__percpu_u64_sum(dp__map_fd(dp, NF_MAP_EVENTS_LOST), lost_seen))
		*lost_seen = 0;
	*rb = ring_buffer__new(dp__map_fd(dp, NF_MAP_EVENTS), handle_event, mo, NULL);
	if (!*rb) {
		pr_err("opening the new event ring buffer: %s", strerror(errno));
		return -errno;
	}
	fprintf(stderr, "netfence: the datapath was replaced: following its ring buffer\n");
	return 0;
}

int cmd_monitor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_opts o = { .shortopts = "jc:t:h", .longopts = opts, .usage_fn = usage };
	struct mon mo = { 0 };
	struct ring_buffer *rb = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t lost_seen = 0, lost, deadline = 0, last_lost_check;
	double timeout = 0;
	char *end;
	int c, err, rc = NF_EXIT_FAIL;

	while ((c = cmd_getopt(&o, argc, argv))) {
		switch (c) {
		case 'j':
			mo.json = true;
			break;
		case 'c':
			mo.count = strtol(optarg, &end, 10);
			if (*end || mo.count <= 0) {
				pr_err("--count %s: expected a positive number", optarg);
				return NF_EXIT_USAGE;
			}
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || timeout <= 0) {
				pr_err("--timeout %s: expected a positive number of seconds",
				       optarg);
				return NF_EXIT_USAGE;
			}
			break;
		}
	}
	if (o.ret >= 0)
		return o.ret;
	if (optind != argc) {
		usage(stderr);
		return NF_EXIT_USAGE;
	}
	nf_log_setup_libbpf();

	if (!dp__is_loaded()) {
		pr_err("datapath not loaded: nothing to monitor (attach an endpoint or apply a "
		       "policy first)");
		return NF_EXIT_FAIL;
	}
	err = dp__open(&mo.dp, false);
	if (err) {
		pr_err("opening the datapath: %s", strerror(-err));
		return NF_EXIT_FAIL;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	mo.start_ns = now_ns(CLOCK_MONOTONIC);
	mo.mono_to_real = (int64_t)(now_ns(CLOCK_REALTIME) - mo.start_ns);
	load_endpoints(&mo);
	if (metrics__percpu_u64_sum(dp__map_fd(mo.dp, NF_MAP_EVENTS_LOST), &lost_seen))
		lost_seen = 0;

	rb = ring_buffer__new(dp__map_fd(mo.dp, NF_MAP_EVENTS), handle_event, &mo, NULL);
	if (!rb) {
		pr_err("opening the event ring buffer: %s", strerror(errno));
		goto out;
	}
	if (timeout > 0)
		deadline = mo.start_ns + (uint64_t)(timeout * 1e9);
	last_lost_check = mo.start_ns;
	fprintf(stderr, "netfence: monitoring drop events (Ctrl-C to stop)\n");

	while (!stop) {
		uint64_t now;

		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			pr_err("reading events: %s", strerror(-err));
			goto out;
		}
		now = now_ns(CLOCK_MONOTONIC);
		if (!stop && now - last_lost_check >= 1000000000ull) {
			last_lost_check = now;
			if (follow_datapath(&mo, &rb, &lost_seen))
				goto out;
			mo.mono_to_real = (int64_t)(now_ns(CLOCK_REALTIME) - now);
			if (!metrics__percpu_u64_sum(dp__map_fd(mo.dp, NF_MAP_EVENTS_LOST),
						     &lost) &&
			    lost > lost_seen) {
				if (mo.json)
					printf("{\"lost\":%llu}\n",
					       (unsigned long long)(lost - lost_seen));
				else
					printf("lost %llu events\n",
					       (unsigned long long)(lost - lost_seen));
				fflush(stdout);
				lost_seen = lost;
			}
		}
		if (deadline && now >= deadline) {
			if (mo.count && mo.printed < mo.count) {
				pr_err("timeout: %ld of %ld events", mo.printed, mo.count);
				goto out;
			}
			break;
		}
	}
	rc = NF_EXIT_OK;
out:
	ring_buffer__free(rb);
	free(mo.eps);
	dp__close(mo.dp);
	return rc;
}
