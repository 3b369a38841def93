// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Endpoint records (NF_EP_DIR, one JSON file per endpoint): write, read,
 * list, allocate an id, find one; an endpoint's map entries and tracked flows,
 * and detaching an endpoint by its record (interface or cgroup).
 *
 * The index (NF_EP_INDEX_DIR) keeps attach and CNI ADD from reading every
 * record (SPEC §9: ADD with 1,000 endpoints <= 1.2x ADD on an empty node):
 *
 *   .index/i-<netns cookie>-<ifindex>   an interface endpoint's ep_id
 *   .index/c-<cgroup id>                a cgroup endpoint's ep_id
 *   .index/o-<container id>@<ifname>    a CNI endpoint's ep_id, by its owner
 *                                       (the CNI DEL's key)
 *   .index/next                         where dp__alloc_ep_id looks first
 *   .index/complete                     every record has its i- or c- entry
 *   .index/complete.2                   ... and its o- entry (an owner that
 *                                       has one)
 *
 * An entry is written (store__write) before its record and removed after
 * it, so a record always has one; an entry left by a kill in between names
 * an id whose record is missing or another key's, and a lookup reads the
 * record and checks its key, so it finds nothing there. Records of a build
 * without the index get their entries once, before the first lookup
 * (ep_index_ready). The index lives inside NF_EP_DIR (reset removes it
 * with the records); its names start with '.', which no record's does.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <jansson.h>

#include "dp_internal.h"
#include "log.h"
#include "store.h"

#define NF_EP_INDEX_DIR		NF_EP_DIR "/.index"
#define NF_EP_INDEX_NEXT	NF_EP_INDEX_DIR "/next"
#define NF_EP_INDEX_COMPLETE	NF_EP_INDEX_DIR "/complete"
#define NF_EP_INDEX_COMPLETE2	NF_EP_INDEX_DIR "/complete.2"

void dp_ep_record_path(char *buf, size_t len, uint32_t ep_id)
{
	snprintf(buf, len, "%s/%u.json", NF_EP_DIR, ep_id);
}

/* The index entry of an interface endpoint (the interface's netns cookie
 * and ifindex: match_iface's key) or of a cgroup endpoint (its id). */
static void index_path_iface(char *buf, size_t len, uint64_t cookie, uint32_t ifindex)
{
	snprintf(buf, len, "%s/i-%llu-%u", NF_EP_INDEX_DIR, (unsigned long long)cookie, ifindex);
}

static void index_path_cgroup(char *buf, size_t len, uint64_t cgroup_id)
{
	snprintf(buf, len, "%s/c-%llu", NF_EP_INDEX_DIR, (unsigned long long)cgroup_id);
}

static void index_path(char *buf, size_t len, const struct nf_ep_record *r)
{
	if (r->is_cgroup)
		index_path_cgroup(buf, len, r->cgroup_id);
	else
		index_path_iface(buf, len, r->netns_cookie, r->ifindex);
}

/*
 * The owner's entry ("containerid/ifname": struct nf_ep_record.owner) as
 * o-<containerid>@<ifname>; -EINVAL for an owner that has none: empty, or
 * one whose container id is not the CNI spec's (letters, digits, '_', '.',
 * '-'), so that no two owners share a file name and none leaves the index.
 */
static int index_path_owner(char *buf, size_t len, const char *owner)
{
	const char *slash = strchr(owner, '/'), *c;
	int n;

	if (!slash || slash == owner || !slash[1] || strchr(slash + 1, '/'))
		return -EINVAL;
	for (c = owner; c < slash; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.' && *c != '-')
			return -EINVAL;
	n = snprintf(buf, len, "%s/o-%.*s@%s", NF_EP_INDEX_DIR, (int)(slash - owner), owner,
		     slash + 1);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The number a small index file holds (an ep_id, the next id); 0 if none. */
static uint32_t index_read(const char *path)
{
	char buf[16];
	unsigned long v;
	ssize_t n;
	char *end;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	v = strtoul(buf, &end, 10);
	return end != buf && *end == 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

static int index_write(const char *path, uint32_t v)
{
	char buf[16];

	if (index_read(path) == v)
		return 0;	/* already there: a record rewritten in place */
	snprintf(buf, sizeof(buf), "%u", v);
	return store__write(path, buf, strlen(buf));
}

/* Remove r's entry if it still names r (a later endpoint may own the key). */
static void index_remove(const struct nf_ep_record *r)
{
	char path[PATH_MAX];

	index_path(path, sizeof(path), r);
	if (index_read(path) == r->ep_id)
		unlink(path);
	if (!index_path_owner(path, sizeof(path), r->owner) && index_read(path) == r->ep_id)
		unlink(path);
}

/* r's entries: by where it is, and by its owner (when it has one). */
static int index_write_all(const struct nf_ep_record *r)
{
	char path[PATH_MAX];
	int err;

	index_path(path, sizeof(path), r);
	err = index_write(path, r->ep_id);
	if (!err && !index_path_owner(path, sizeof(path), r->owner))
		err = index_write(path, r->ep_id);
	return err;
}

/*
 * Entries for the records of a build without the index, once: after this
 * every record has its entry (each later one is written with it). Safe
 * without the node lock: an entry it writes for a record detached meanwhile
 * is one a lookup rejects.
 */
static int ep_index_ready(struct nf_dp *dp)
{
	struct nf_ep_record *recs;
	size_t n, i;
	int err;

	if (!access(NF_EP_INDEX_COMPLETE2, F_OK))
		return 0;
	err = dp__list_endpoints(dp, &recs, &n);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++)
		err = index_write_all(&recs[i]);
	free(recs);
	if (!err)
		err = store__touch(NF_EP_INDEX_COMPLETE);
	if (!err)
		err = store__touch(NF_EP_INDEX_COMPLETE2);
	if (err)
		pr_err("cannot index the endpoint records in %s: %s", NF_EP_INDEX_DIR,
		       strerror(-err));
	return err;
}

int dp_ep_record_write(const struct nf_ep_record *r, const struct nf_cidr *addrs, size_t n)
{
	char path[PATH_MAX], buf[64];
	json_t *o, *a;
	size_t i;
	int err;

	a = json_array();
	for (i = 0; i < n; i++) {
		inet_ntop(AF_INET6, addrs[i].addr, buf, sizeof(buf));
		json_array_append_new(a, json_string(buf));
	}
	o = json_pack("{s:I, s:I, s:b, s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:o, s:b, s:s, s:s, s:I, "
		      "s:I, s:I}",
		      "ep_id", (json_int_t)r->ep_id, "tenant_id", (json_int_t)r->tenant_id,
		      "is_cgroup", r->is_cgroup, "netns", r->netns, "ifname", r->ifname,
		      "ifindex", (json_int_t)r->ifindex, "netns_cookie", (json_int_t)r->netns_cookie,
		      "cgroup", r->cgroup, "cgroup_id", (json_int_t)r->cgroup_id, "owner", r->owner,
		      "addrs", a, "attach_peer", r->attach_peer, "attach_netns", r->attach_netns,
		      "attach_ifname", r->attach_ifname, "attach_ifindex",
		      (json_int_t)r->attach_ifindex, "attach_cookie", (json_int_t)r->attach_cookie,
		      "flags", (json_int_t)r->flags);
	if (o && (json_object_set_new(o, "network", json_string(r->network)) ||
		  json_object_set_new(o, "policy_id", json_integer(r->policy_id)) ||
		  json_object_set_new(o, "pod", json_string(r->pod)) ||
		  json_object_set_new(o, "ident", json_integer(r->ident)))) {
		json_decref(o);
		o = NULL;
	}
	if (o && r->qdisc_ours && json_object_set_new(o, "qdisc_ours", json_true())) {
		json_decref(o);
		o = NULL;
	}
	if (o && r->guard) {
		snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", r->mac[0], r->mac[1],
			 r->mac[2], r->mac[3], r->mac[4], r->mac[5]);
		json_object_set_new(o, "guard",
				    json_pack("{s:s, s:s, s:I, s:I, s:s}", "netns", r->guard_netns,
					      "ifname", r->guard_ifname, "ifindex",
					      (json_int_t)r->guard_ifindex, "cookie",
					      (json_int_t)r->guard_cookie, "mac", buf));
	}
	if (!o)
		return -ENOMEM;
	/* its index entries first: a record is never without them */
	err = index_write_all(r);
	if (err) {
		json_decref(o);
		return err;
	}
	dp_ep_record_path(path, sizeof(path), r->ep_id);
	return store__write_json(path, o);
}

int dp_ep_record_read(uint32_t ep_id, struct nf_ep_record *r, struct nf_cidr **addrs, size_t *n)
{
	char path[PATH_MAX];
	json_t *o, *a, *v;
	size_t i;

	dp_ep_record_path(path, sizeof(path), ep_id);
	o = json_load_file(path, 0, NULL);
	if (!o)
		return -ENOENT;
	memset(r, 0, sizeof(*r));
	r->ep_id = json_integer_value(json_object_get(o, "ep_id"));
	r->tenant_id = json_integer_value(json_object_get(o, "tenant_id"));
	r->is_cgroup = json_is_true(json_object_get(o, "is_cgroup"));
	snprintf(r->netns, sizeof(r->netns), "%s",
		 json_string_value(json_object_get(o, "netns")) ?: "");
	snprintf(r->ifname, sizeof(r->ifname), "%s",
		 json_string_value(json_object_get(o, "ifname")) ?: "");
	r->ifindex = json_integer_value(json_object_get(o, "ifindex"));
	r->netns_cookie = json_integer_value(json_object_get(o, "netns_cookie"));
	snprintf(r->cgroup, sizeof(r->cgroup), "%s",
		 json_string_value(json_object_get(o, "cgroup")) ?: "");
	r->cgroup_id = json_integer_value(json_object_get(o, "cgroup_id"));
	r->attach_peer = json_is_true(json_object_get(o, "attach_peer"));
	snprintf(r->attach_netns, sizeof(r->attach_netns), "%s",
		 json_string_value(json_object_get(o, "attach_netns")) ?: "");
	snprintf(r->attach_ifname, sizeof(r->attach_ifname), "%s",
		 json_string_value(json_object_get(o, "attach_ifname")) ?: "");
	r->attach_ifindex = json_integer_value(json_object_get(o, "attach_ifindex"));
	r->attach_cookie = json_integer_value(json_object_get(o, "attach_cookie"));
	r->flags = json_integer_value(json_object_get(o, "flags"));
	snprintf(r->network, sizeof(r->network), "%s",
		 json_string_value(json_object_get(o, "network")) ?: "");
	r->policy_id = json_integer_value(json_object_get(o, "policy_id"));
	snprintf(r->pod, sizeof(r->pod), "%s", json_string_value(json_object_get(o, "pod")) ?: "");
	r->ident = json_integer_value(json_object_get(o, "ident"));
	r->qdisc_ours = json_is_true(json_object_get(o, "qdisc_ours"));
	v = json_object_get(o, "guard");
	if (json_is_object(v)) {
		unsigned int m[6];
		const char *mac = json_string_value(json_object_get(v, "mac"));

		r->guard = true;
		snprintf(r->guard_netns, sizeof(r->guard_netns), "%s",
			 json_string_value(json_object_get(v, "netns")) ?: "");
		snprintf(r->guard_ifname, sizeof(r->guard_ifname), "%s",
			 json_string_value(json_object_get(v, "ifname")) ?: "");
		r->guard_ifindex = json_integer_value(json_object_get(v, "ifindex"));
		r->guard_cookie = json_integer_value(json_object_get(v, "cookie"));
		if (mac && sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
				  &m[5]) == 6)
			for (i = 0; i < 6; i++)
				r->mac[i] = (uint8_t)m[i];
	}
	snprintf(r->owner, sizeof(r->owner), "%s",
		 json_string_value(json_object_get(o, "owner")) ?: "");
	if (addrs) {
		a = json_object_get(o, "addrs");
		*n = 0;
		*addrs = calloc(json_array_size(a) + 1, sizeof(**addrs));
		if (!*addrs) {
			json_decref(o);
			return -ENOMEM;
		}
		json_array_foreach(a, i, v) {
			struct nf_cidr *c = &(*addrs)[*n];

			if (json_string_value(v) &&
			    inet_pton(AF_INET6, json_string_value(v), c->addr) == 1) {
				c->plen = 128;
				(*n)++;
			}
		}
	}
	json_decref(o);
	return 0;
}

int dp__list_endpoints(struct nf_dp *dp, struct nf_ep_record **out, size_t *n)
{
	struct nf_ep_record *recs = NULL, *tmp;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(NF_EP_DIR);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char *end;
		unsigned long id = strtoul(de->d_name, &end, 10);

		if (end == de->d_name || strcmp(end, ".json"))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(recs, cap * sizeof(*recs));
			if (!tmp) {
				free(recs);
				closedir(d);
				return -ENOMEM;
			}
			recs = tmp;
		}
		if (!dp_ep_record_read(id, &recs[cnt], NULL, NULL))
			cnt++;
	}
	closedir(d);
	*out = recs;
	*n = cnt;
	return 0;
}

/*
 * A free id: the first without a record from where the last one was taken
 * (.index/next), around to 1, so that finding one does not grow with the
 * endpoints there are. Called with the node lock held; the id is taken
 * once its record is written.
 */
uint32_t dp__alloc_ep_id(struct nf_dp *dp)
{
	const uint32_t max = NF_MAX_ENDPOINTS * 2u;	/* ids 1 .. max - 1 */
	char path[PATH_MAX];
	uint32_t start = index_read(NF_EP_INDEX_NEXT), id, i;

	if (!start || start >= max)
		start = 1;
	for (i = 0, id = start; i < max - 1; i++, id = id + 1 < max ? id + 1 : 1) {
		dp_ep_record_path(path, sizeof(path), id);
		if (access(path, F_OK)) {
			/* a hint only: lost, the search starts at 1 */
			index_write(NF_EP_INDEX_NEXT, id + 1 < max ? id + 1 : 1);
			return id;
		}
	}
	return 0;
}

static bool match_owner(const struct nf_ep_record *r, const void *owner)
{
	return !r->is_cgroup && !strcmp(r->owner, owner);
}

/* The record the index names at path, if match() accepts it. */
static int find_indexed(struct nf_dp *dp, const char *path,
			bool (*match)(const struct nf_ep_record *, const void *), const void *arg,
			struct nf_ep_record *found)
{
	struct nf_ep_record r;
	uint32_t id;
	int err = ep_index_ready(dp);

	if (err)
		return err;
	id = index_read(path);
	if (!id || dp_ep_record_read(id, &r, NULL, NULL) || r.ep_id != id || !match(&r, arg))
		return -ENOENT;
	*found = r;
	return 0;
}

int dp_find_iface_record(struct nf_dp *dp, uint64_t cookie, uint32_t ifindex,
			 bool (*match)(const struct nf_ep_record *, const void *), const void *arg,
			 struct nf_ep_record *found)
{
	char path[PATH_MAX];

	index_path_iface(path, sizeof(path), cookie, ifindex);
	return find_indexed(dp, path, match, arg, found);
}

int dp_find_cgroup_record(struct nf_dp *dp, uint64_t cgroup_id,
			  bool (*match)(const struct nf_ep_record *, const void *), const void *arg,
			  struct nf_ep_record *found)
{
	char path[PATH_MAX];

	index_path_cgroup(path, sizeof(path), cgroup_id);
	return find_indexed(dp, path, match, arg, found);
}

int dp__find_owner_record(struct nf_dp *dp, const char *owner, struct nf_ep_record *found)
{
	char path[PATH_MAX];
	int err = index_path_owner(path, sizeof(path), owner);

	return err ? err : find_indexed(dp, path, match_owner, owner, found);
}

int dp_find_record(struct nf_dp *dp, bool (*match)(const struct nf_ep_record *, const void *),
		   const void *arg, struct nf_ep_record *found)
{
	struct nf_ep_record *recs;
	size_t n, i;
	int err;

	err = dp__list_endpoints(dp, &recs, &n);
	if (err)
		return err;
	err = -ENOENT;
	for (i = 0; i < n; i++) {
		if (match(&recs[i], arg)) {
			*found = recs[i];
			err = 0;
			break;
		}
	}
	free(recs);
	return err;
}

static bool addr_listed(const struct nf_cidr *list, size_t n, const struct nf_cidr *a)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		if (!memcmp(list[i].addr, a->addr, 16))
			return true;
	return false;
}

/* Forget an endpoint's addresses, except those in keep (a re-attach). */
void dp_ep_addrs_remove(struct nf_dp *dp, const struct nf_ep_record *r,
			const struct nf_cidr *addrs, size_t n, const struct nf_cidr *keep,
			size_t n_keep)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < n; i++) {
		struct nf_ep_addr_key ak = { .ep_id = r->ep_id };
		struct nf_lpm_addr_key lk = { .prefixlen = 128 };
		struct nf_ipcache_val v;

		if (addr_listed(keep, n_keep, &addrs[i]))
			continue;
		memcpy(ak.addr, addrs[i].addr, 16);
		bpf_map_delete_elem(dp->maps.fd[NF_MAP_EP_ADDRS], &ak);
		/* only our own ipcache entry: another endpoint may own the address now */
		memcpy(lk.addr, addrs[i].addr, 16);
		if (!bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &lk, &v) &&
		    NF_IDENT_TENANT(v.id) == r->tenant_id && v.flags == r->ep_id) {
			bpf_map_delete_elem(dp->maps.fd[NF_MAP_IPCACHE], &lk);
			changed = true;
		}
	}
	if (changed)
		dp__ipcache_changed(dp);
	else
		dp__verdicts_changed(dp);	/* anti-spoofing forgot them */
}

/* The nf_endpoints key of an interface endpoint: where its programs run.
 * (Records written before attach points existed name the interface.) */
void dp__ep_key(const struct nf_ep_record *r, struct nf_ep_key *k)
{
	memset(k, 0, sizeof(*k));
	k->netns_cookie = r->attach_ifindex ? r->attach_cookie : r->netns_cookie;
	k->ifindex = r->attach_ifindex ? r->attach_ifindex : r->ifindex;
}

static void ep_maps_remove(struct nf_dp *dp, const struct nf_ep_record *r,
			   const struct nf_cidr *addrs, size_t n)
{
	struct nf_ep_key k;

	if (r->is_cgroup) {
		bpf_map_delete_elem(dp->maps.fd[NF_MAP_CG_ENDPOINTS], &r->cgroup_id);
		dp__verdicts_changed(dp);
		return;
	}
	dp__ep_key(r, &k);
	bpf_map_delete_elem(dp->maps.fd[NF_MAP_ENDPOINTS], &k);
	dp_ep_addrs_remove(dp, r, addrs, n, NULL, 0);
}

int dp_map_scan(int fd, size_t key_size, size_t val_size,
		int (*fn)(void *keys, void *vals, __u32 n, void *ctx), void *ctx)
{
	enum { BATCH = 4096 };
	void *keys = calloc(BATCH, key_size), *vals = calloc(BATCH, val_size);
	__u64 in, out;	/* batch cursors: a hash map's are 4 bytes */
	bool first = true;
	int err = -ENOMEM;

	if (!keys || !vals)
		goto out;
	for (;;) {
		__u32 count = BATCH;
		bool last;

		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, NULL);
		if (err && errno != ENOENT) {
			err = -errno;
			break;
		}
		last = err;	/* ENOENT: this is the last batch */
		err = count ? fn(keys, vals, count, ctx) : 0;
		if (err || last)
			break;
		in = out;
		first = false;
	}
out:
	free(keys);
	free(vals);
	return err;
}

struct ct_purge {
	struct nf_dp *dp;
	__u64 scope;
	__u32 ifindex;
};

static int ct_purge_batch(void *keys, void *vals, __u32 n, void *ctx)
{
	const struct ct_purge *p = ctx;
	struct nf_ct_key *k = keys;
	struct nf_ct_val *v = vals;
	__u32 i;

	for (i = 0; i < n; i++)
		if (NF_CT_KEY_SCOPE(&k[i]) == (p->scope & NF_CT_SCOPE_MASK) &&
		    k[i].ifindex == p->ifindex &&
		    !bpf_map_delete_elem(p->dp->maps.fd[NF_MAP_CT], &k[i])) {
			dp_tally_put(p->dp, &k[i]);
			dp_usage_put(p->dp, v[i].tenant_id, false, 1);
		}
	return 0;
}

/*
 * Forget the tracked flows of one endpoint scope: conntrack is keyed by
 * where the endpoint is, and a later endpoint in the same place (another
 * tenant) must not inherit them.
 */
void dp_ct_purge(struct nf_dp *dp, __u64 scope, __u32 ifindex)
{
	struct ct_purge p = { .dp = dp, .scope = scope, .ifindex = ifindex };

	dp__young_flush(dp);
	dp_map_scan(dp->maps.fd[NF_MAP_CT], sizeof(struct nf_ct_key), sizeof(struct nf_ct_val),
		    ct_purge_batch, &p);
	dp__verdicts_changed(dp);	/* after the last write of nf_ct: see nf_ct_val.gen */
}

int dp_detach_record(struct nf_dp *dp, const struct nf_ep_record *r)
{
	struct nf_cidr *addrs = NULL;
	struct nf_ep_record full;
	char path[PATH_MAX];
	size_t n = 0;
	int err;

	if (!dp_ep_record_read(r->ep_id, &full, &addrs, &n))
		r = &full;
	if (dp_intent_begin(r->ep_id, DP_INTENT_DETACH)) {
		free(addrs);
		return -EIO;
	}
	{	/* its tenant may be left with nothing (SPEC §10.2) */
		char name[NF_TENANT_NAME_LEN];

		if (!dp__tenant_name(dp, r->tenant_id, name, sizeof(name)))
			store__reclaim_mark(name);
	}
	dp_test_stop_at("detach-marked");
	if (r->is_cgroup) {
		dp_cg_detach_progs(dp, r->cgroup);	/* every hook of cg_hooks */
	} else {
		/* The netns may be gone (CNI DEL after teardown): then so are the filters.
		 * Programs it cannot take off keep their record and the mark: the next
		 * command finishes the detach, and status never hides them. */
		err = dp_tc_detach_record(dp, r);
		if (err) {
			free(addrs);
			return err;
		}
		if (r->guard)
			dp_guard_detach(dp, r);
	}
	dp_test_stop_at("detach-progs");
	ep_maps_remove(dp, r, addrs, n);
	if (r->is_cgroup) {
		dp_ct_purge(dp, r->cgroup_id, 0);
	} else {
		struct nf_ep_key k;

		dp__ep_key(r, &k);
		dp_ct_purge(dp, k.netns_cookie, k.ifindex);
	}
	free(addrs);
	dp_ep_record_path(path, sizeof(path), r->ep_id);
	unlink(path);
	index_remove(r);	/* after the record: a record always has its entry */
	dp_intent_end(r->ep_id);
	return 0;
}

/* Mark the tenant of every endpoint of a batch (values struct nf_endpoint). */
static int used_batch(void *keys, void *vals, __u32 n, void *ctx)
{
	const struct nf_endpoint *v = vals;
	bool *used = ctx;
	__u32 i;

	for (i = 0; i < n; i++)
		if (v[i].tenant_id < NF_MAX_TENANTS)
			used[v[i].tenant_id] = true;
	return 0;
}

int dp__tenants_with_endpoints(struct nf_dp *dp, bool *used)
{
	int err = dp_map_scan(dp->maps.fd[NF_MAP_ENDPOINTS], sizeof(struct nf_ep_key),
			      sizeof(struct nf_endpoint), used_batch, used);

	return err ? err : dp_map_scan(dp->maps.fd[NF_MAP_CG_ENDPOINTS], sizeof(__u64),
				       sizeof(struct nf_endpoint), used_batch, used);
}

int dp__detach_endpoint(struct nf_dp *dp, uint32_t ep_id)
{
	struct nf_ep_record r;

	if (dp_ep_record_read(ep_id, &r, NULL, NULL))
		return 0;
	return dp_detach_record(dp, &r);
}

/* ------------------------------------------------- changes in progress */

static void intent_path(char *buf, size_t len, uint32_t ep_id)
{
	snprintf(buf, len, "%s/%u", NF_STORE_PENDING, ep_id);
}

int dp_intent_begin(uint32_t ep_id, enum dp_intent what)
{
	static const char *const words[] = { [DP_INTENT_ATTACH] = "attach",
					     [DP_INTENT_DETACH] = "detach" };
	char path[PATH_MAX];
	int err;

	intent_path(path, sizeof(path), ep_id);
	err = store__write(path, words[what], strlen(words[what]));
	if (err)
		pr_err("cannot mark endpoint %u's change in %s: %s", ep_id, NF_STORE_PENDING,
		       strerror(-err));
	return err;
}

void dp_intent_end(uint32_t ep_id)
{
	char path[PATH_MAX];

	intent_path(path, sizeof(path), ep_id);
	unlink(path);
}

void dp_test_stop_at(const char *point)
{
	const char *v = getenv("NETFENCE_TEST_STOP_AT");

	if (v && !strcmp(v, point))
		raise(SIGSTOP);
}

/* The interface of record r, as it was attached: same netns, same ifindex. */
static bool iface_same(const struct nf_ep_record *r)
{
	struct netns_guard g;
	uint64_t cookie;
	bool same;

	if (dp__netns_cookie(r->netns, &cookie) || cookie != r->netns_cookie)
		return false;
	if (dp_netns_enter(r->netns, &g))
		return false;
	same = if_nametoindex(r->ifname) == r->ifindex;
	dp_netns_leave(&g);
	return same;
}

/* Finish an attach a killed command began: attach again from its record
 * (idempotent), or undo it if what it fenced is gone. */
static int reconcile_attach(struct nf_dp *dp, const struct nf_ep_record *r,
			    const struct nf_cidr *addrs, size_t n)
{
	struct nf_iface_ep ep = { .tenant_id = r->tenant_id, .flags = r->flags };
	struct nf_cidr *own;
	uint64_t cgid;
	size_t i;
	int err;

	if (r->is_cgroup) {
		if (dp__cgroup_id(r->cgroup, &cgid) || cgid != r->cgroup_id)
			return dp_detach_record(dp, r);
		return dp__attach_cgroup(dp, r->cgroup, r->tenant_id);
	}
	if (!iface_same(r))
		return dp_detach_record(dp, r);
	/* Its link-local addresses are read from the interface again. */
	own = calloc(n + 1, sizeof(*own));
	if (!own)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (!(addrs[i].addr[0] == 0xfe && (addrs[i].addr[1] & 0xc0) == 0x80))
			own[ep.n_addrs++] = addrs[i];
	ep.addrs = own;
	snprintf(ep.netns, sizeof(ep.netns), "%s", r->netns);
	snprintf(ep.ifname, sizeof(ep.ifname), "%s", r->ifname);
	snprintf(ep.owner, sizeof(ep.owner), "%s", r->owner);
	snprintf(ep.network, sizeof(ep.network), "%s", r->network);
	ep.policy_id = r->policy_id;
	err = dp__attach_iface(dp, &ep);
	free(own);
	return err;
}

bool dp__changes_pending(void)
{
	struct dirent *de;
	DIR *d = opendir(NF_STORE_PENDING);
	bool any = false;

	if (!d)
		return false;
	while (!any && (de = readdir(d)))
		any = de->d_name[0] != '.';
	closedir(d);
	return any;
}

void dp__reconcile(struct nf_dp *dp)
{
	struct dirent *de;
	DIR *d = opendir(NF_STORE_PENDING);

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct nf_ep_record r;
		struct nf_cidr *addrs = NULL;
		char path[PATH_MAX], what[16] = "";
		size_t n = 0;
		char *end;
		unsigned long id = strtoul(de->d_name, &end, 10);
		FILE *f;
		int err = 0;

		if (end == de->d_name || *end || !id || id > UINT32_MAX)
			continue;
		intent_path(path, sizeof(path), id);
		f = fopen(path, "re");
		if (f) {
			if (!fgets(what, sizeof(what), f))
				what[0] = 0;
			fclose(f);
		}
		if (!dp_ep_record_read(id, &r, &addrs, &n)) {
			pr_info("endpoint %lu: finishing the %s a killed command began", id,
				*what ? what : "change");
			if (!strcmp(what, "attach"))
				err = reconcile_attach(dp, &r, addrs, n);
			else
				err = dp_detach_record(dp, &r);
			if (err)
				pr_err("endpoint %lu: cannot finish the %s: %s", id, what,
				       strerror(-err));
		}
		free(addrs);
		if (!err)
			dp_intent_end(id);
	}
	closedir(d);
}

int dp__endpoint_set_ident(struct nf_dp *dp, uint32_t ep_id, uint32_t ident)
{
	struct nf_ep_record r;
	struct nf_cidr *addrs = NULL;
	size_t n = 0, i;
	bool changed = false;
	int err;

	err = dp_ep_record_read(ep_id, &r, &addrs, &n);
	if (err)
		return err;
	if (NF_IDENT_TENANT(ident) != r.tenant_id) {
		free(addrs);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		struct nf_lpm_addr_key lk = { .prefixlen = 128 };
		struct nf_ipcache_val v;

		memcpy(lk.addr, addrs[i].addr, 16);
		if (bpf_map_lookup_elem(dp->maps.fd[NF_MAP_IPCACHE], &lk, &v) ||
		    v.flags != r.ep_id || v.id == ident)
			continue;
		v.id = ident;
		if (bpf_map_update_elem(dp->maps.fd[NF_MAP_IPCACHE], &lk, &v, BPF_EXIST) &&
		    errno != ENOENT) {
			err = -errno;
			break;
		}
		changed = true;
	}
	if (changed)
		dp__ipcache_changed(dp);
	if (!err && r.ident != ident) {
		r.ident = ident;
		err = dp_ep_record_write(&r, addrs, n);
	}
	free(addrs);
	return err;
}

int dp__endpoint_addrs(uint32_t ep_id, struct nf_cidr **addrs, size_t *n)
{
	struct nf_ep_record r;

	return dp_ep_record_read(ep_id, &r, addrs, n);
}
