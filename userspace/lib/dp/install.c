// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Atomic policy install and removal: a tenant's entries in nf_policy and
 * nf_ports carry the parity of the epoch they belong to; the new policy is
 * written under the parity not in force, then one store flips the epoch.
 * Key records on disk account for every key a tenant may own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "dp_internal.h"
#include "lookup.h"
#include "log.h"

/*
 * Key records. For each tenant, /run/netfence/tenants/<id>.trie and <id>.ports
 * list every nf_policy and nf_ports key it may own, in either parity. They
 * are written before the kernel gets new keys, so a crash at any point leaves
 * nothing unaccounted for.
 */
struct key_record {
	const char *suffix;
	size_t key_size;
	void *keys;
	size_t n;
};

static void record_path(char *buf, size_t len, const char *dir, uint32_t tenant_id,
			const char *suffix)
{
	snprintf(buf, len, "%s/%u.%s", dir, tenant_id, suffix);
}

/*
 * <dir>/flipped/<id>: the tenant flipped its parity at (just after) this
 * file's mtime, and its old parity may still hold entries. Touched before
 * every flip, removed by the sweep: dp__sweep_old_parity visits only these,
 * not every tenant.
 */
static void flipped_path(char *buf, size_t len, const char *dir, uint32_t tenant_id)
{
	snprintf(buf, len, "%s/flipped/%u", dir, tenant_id);
}

static void flipped_mark(struct nf_dp *dp, uint32_t tenant_id)
{
	char path[PATH_MAX];
	int fd;

	flipped_path(path, sizeof(path), dp->tenant_dir, tenant_id);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s/flipped", dp->tenant_dir);
		mkdir(dir, 0755);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	}
	if (fd < 0) {
		pr_warn("tenant %u: cannot mark its flip in %s: %s (its old parity is swept by its "
			"next apply)", tenant_id, path, strerror(errno));
		return;
	}
	futimens(fd, NULL);	/* an older mark: its time is now this flip's */
	close(fd);
}

static int record_read(const char *dir, uint32_t tenant_id, struct key_record *r)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, err = 0;

	r->keys = NULL;
	r->n = 0;
	record_path(path, sizeof(path), dir, tenant_id, r->suffix);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	if (!st.st_size)
		goto out;
	r->keys = malloc(st.st_size);
	if (!r->keys) {
		err = -ENOMEM;
		goto out;
	}
	if (read(fd, r->keys, st.st_size) != st.st_size) {
		err = -EIO;
		free(r->keys);
		r->keys = NULL;
		goto out;
	}
	r->n = st.st_size / r->key_size;
out:
	close(fd);
	return err;
}

/* Write the concatenation of two key arrays. */
static int record_write(const char *dir, uint32_t tenant_id, const char *suffix, size_t key_size,
			const void *a, size_t n_a, const void *b, size_t n_b)
{
	char path[PATH_MAX];

	record_path(path, sizeof(path), dir, tenant_id, suffix);
	return store__write2(path, a, n_a * key_size, b, n_b * key_size);
}

static bool port_key_parity(const void *k)
{
	return (((const struct nf_port_key *)k)->class_id >> 19) & 1;
}

static bool policy_key_parity(const void *k)
{
	return ((const struct nf_policy_key *)k)->parity & 1;
}

/*
 * Delete from map fd the recorded keys of one parity (the entries not in
 * force: left by the previous apply, or by an interrupted one) and compact
 * the record to the keys of the other parity, in place.
 */
static void record_drop_parity(int fd, struct key_record *r, bool parity,
			       bool (*key_parity)(const void *))
{
	char *keys = r->keys;
	size_t i, kept = 0;

	for (i = 0; i < r->n; i++) {
		char *k = keys + i * r->key_size;

		if (key_parity(k) == parity) {
			bpf_map_delete_elem(fd, k);
			continue;
		}
		if (kept != i)
			memmove(keys + kept * r->key_size, k, r->key_size);
		kept++;
	}
	r->n = kept;
}

static int ports_insert(struct nf_dp *dp, const struct nf_port_entry *e, size_t n)
{
	struct nf_port_key *keys;
	struct nf_port_val *vals;
	__u32 count;
	size_t i;
	int err = 0;

	if (!n)
		return 0;
	keys = malloc(n * sizeof(*keys));
	vals = malloc(n * sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		keys[i] = e[i].key;
		vals[i] = e[i].val;
	}
	count = n;
	if (bpf_map_update_batch(dp->maps.fd[NF_MAP_PORTS], keys, vals, &count, NULL)) {
		err = -errno;
		if (err == -EINVAL || err == -EOPNOTSUPP || err == -524 /* ENOTSUPP */) {
			err = 0;
			for (i = 0; i < n && !err; i++)
				if (bpf_map_update_elem(dp->maps.fd[NF_MAP_PORTS], &keys[i],
							&vals[i], BPF_ANY))
					err = -errno;
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* The compiler's per-tenant key, placed in the node-wide trie. */
static void policy_key_of(struct nf_policy_key *k, const struct nf_peer_key *pk, uint32_t tenant_id,
			  uint32_t epoch)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = NF_POLICY_KEY_FIXED_BITS + (pk->prefixlen - NF_PEER_KEY_FIXED_BITS);
	k->tenant_id = htonl(tenant_id);
	k->parity = epoch & 1;
	k->dir = pk->dir;
	k->kind = pk->kind;
	memcpy(k->data, pk->data, sizeof(k->data));
}

/* Delete the given keys from fd (undo of a failed install). */
static void keys_delete(int fd, const void *keys, size_t n, size_t key_size)
{
	size_t i;

	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, (const char *)keys + i * key_size);
}

/*
 * Install c for its tenant: write the entries of the parity not in force,
 * then flip the epoch. Until the flip nothing the datapath uses changes; a
 * failure before it removes what was written and leaves the old policy.
 */
int dp__install_policy(struct nf_dp *dp, const struct nf_compiled *c)
{
	struct key_record rt = { .suffix = "trie", .key_size = sizeof(struct nf_policy_key) };
	struct key_record rp = { .suffix = "ports", .key_size = sizeof(struct nf_port_key) };
	struct nf_policy_key *tkeys = NULL;
	struct nf_port_key *pkeys = NULL;
	struct nf_tenant_info *ti;
	__u32 id = c->tenant_id;
	bool parity = c->epoch & 1;
	size_t i, n_trie = 0;
	int err;

	if (!id || id >= NF_MAX_TENANTS || !dp->tenants[id].name[0])
		return -ENOENT;
	ti = &dp->tenants[id];
	if (c->epoch != ti->epoch + 1) {
		pr_err("internal: policy for tenant %u compiled for epoch %u, current %u", id,
		       c->epoch, ti->epoch);
		return -ESTALE;
	}
	err = record_read(dp->tenant_dir, id, &rt);
	if (!err)
		err = record_read(dp->tenant_dir, id, &rp);
	if (err)
		goto out;
	/* 1. Clear the parity we are about to write. */
	record_drop_parity(dp->maps.fd[NF_MAP_POLICY], &rt, parity, policy_key_parity);
	record_drop_parity(dp->maps.fd[NF_MAP_PORTS], &rp, parity, port_key_parity);

	tkeys = calloc(c->n_trie + 1, sizeof(*tkeys));
	pkeys = calloc(c->n_ports + 1, sizeof(*pkeys));
	if (!tkeys || !pkeys) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < c->n_trie; i++)
		policy_key_of(&tkeys[i], &c->trie[i].key, id, c->epoch);
	for (i = 0; i < c->n_ports; i++)
		pkeys[i] = c->ports[i].key;
	/* 2. Record first, then write the new entries aside. */
	err = record_write(dp->tenant_dir, id, "trie", sizeof(*tkeys), rt.keys, rt.n, tkeys, c->n_trie);
	if (!err)
		err = record_write(dp->tenant_dir, id, "ports", sizeof(*pkeys), rp.keys, rp.n, pkeys, c->n_ports);
	if (!err)	/* what the rule_refs name, for `check` (lookup.h) */
		err = lookup__names_write(dp->tenant_dir, ti->name, c);
	if (err) {
		pr_err("tenant %s: cannot write the key records in %s: %s", ti->name, dp->tenant_dir,
		       strerror(-err));
		goto out;
	}
	for (n_trie = 0; n_trie < c->n_trie; n_trie++) {
		if (bpf_map_update_elem(dp->maps.fd[NF_MAP_POLICY], &tkeys[n_trie],
					&c->trie[n_trie].val, BPF_ANY)) {
			err = -errno;
			pr_err("tenant %s: the policy does not fit the policy trie (%zu entries, capacity %u): %s",
			       ti->name, c->n_trie, NF_MAX_TRIE_ENTRIES, strerror(-err));
			goto undo;
		}
	}
	err = ports_insert(dp, c->ports, c->n_ports);
	if (err) {
		pr_err("tenant %s: the policy does not fit the port map (%zu entries, capacity %u): %s",
		       ti->name, c->n_ports, NF_MAX_PORT_ENTRIES, strerror(-err));
		goto undo;
	}
	/* 3. The swap: one store; tracked flows and cached peers get judged again.
	 * The parity it leaves is swept a grace after (a first install leaves
	 * an empty one: no mark, so a bulk load leaves no sweep behind). */
	if (rt.n || rp.n)
		flipped_mark(dp, id);
	ti->n_rules[NF_DIR_INGRESS] = c->n_rules_dir[NF_DIR_INGRESS];
	ti->n_rules[NF_DIR_EGRESS] = c->n_rules_dir[NF_DIR_EGRESS];
	__atomic_store_n(&ti->epoch, c->epoch, __ATOMIC_RELEASE);
	dp__verdicts_changed(dp);	/* after the store: see nf_ct_val.gen */
	err = 0;
	goto out;
undo:
	keys_delete(dp->maps.fd[NF_MAP_POLICY], tkeys, n_trie, sizeof(*tkeys));
	keys_delete(dp->maps.fd[NF_MAP_PORTS], pkeys, c->n_ports, sizeof(*pkeys));
	record_write(dp->tenant_dir, id, "trie", sizeof(*tkeys), rt.keys, rt.n, NULL, 0);
	record_write(dp->tenant_dir, id, "ports", sizeof(*pkeys), rp.keys, rp.n, NULL, 0);
out:
	free(rt.keys);
	free(rp.keys);
	free(tkeys);
	free(pkeys);
	return err;
}

/* Back to deny-all: flip to a parity with no entries. */
int dp__remove_policy(struct nf_dp *dp, uint32_t tenant_id)
{
	struct key_record rt = { .suffix = "trie", .key_size = sizeof(struct nf_policy_key) };
	struct key_record rp = { .suffix = "ports", .key_size = sizeof(struct nf_port_key) };
	struct nf_tenant_info *ti;
	bool next;
	int err;

	if (!tenant_id || tenant_id >= NF_MAX_TENANTS)
		return -ENOENT;
	ti = &dp->tenants[tenant_id];
	next = (ti->epoch + 1) & 1;
	err = record_read(dp->tenant_dir, tenant_id, &rt);
	if (!err)
		err = record_read(dp->tenant_dir, tenant_id, &rp);
	if (!err) {
		record_drop_parity(dp->maps.fd[NF_MAP_POLICY], &rt, next, policy_key_parity);
		record_drop_parity(dp->maps.fd[NF_MAP_PORTS], &rp, next, port_key_parity);
		record_write(dp->tenant_dir, tenant_id, "trie", rt.key_size, rt.keys, rt.n, NULL, 0);
		record_write(dp->tenant_dir, tenant_id, "ports", rp.key_size, rp.keys, rp.n, NULL, 0);
	}
	free(rt.keys);
	free(rp.keys);
	if (err)
		return err;
	flipped_mark(dp, tenant_id);
	ti->n_rules[0] = 0;
	ti->n_rules[1] = 0;
	__atomic_add_fetch(&ti->epoch, 1, __ATOMIC_RELEASE);
	dp__verdicts_changed(dp);	/* as after an install: stamped flows are judged again */
	return 0;
}

/*
 * The entries of the parity not in force, once no packet can still be
 * using them: an epoch flip is older than NF_OLD_PARITY_GRACE_S (a packet
 * reads the epoch and the entries within one RCU read section, microseconds).
 * The key records are written just before each flip, so their age is the
 * flip's. Called by state-changing commands under the node lock.
 */
#define NF_OLD_PARITY_GRACE_S	1

/* Sweep one tenant's old parity if its flip is old enough: 1 if it is (or
 * there is nothing to sweep), 0 if it must wait. */
static int sweep_one(struct nf_dp *dp, uint32_t id, const struct timespec *flip,
		     const struct timespec *now)
{
	struct key_record rt = { .suffix = "trie", .key_size = sizeof(struct nf_policy_key) };
	struct key_record rp = { .suffix = "ports", .key_size = sizeof(struct nf_port_key) };
	bool old = !(dp->tenants[id].epoch & 1);
	size_t nt, np;

	if (flip->tv_sec + NF_OLD_PARITY_GRACE_S > now->tv_sec ||
	    (flip->tv_sec + NF_OLD_PARITY_GRACE_S == now->tv_sec && flip->tv_nsec > now->tv_nsec))
		return 0;	/* flipped less than a second ago */
	if (record_read(dp->tenant_dir, id, &rt) || record_read(dp->tenant_dir, id, &rp))
		goto out;
	nt = rt.n;
	np = rp.n;
	record_drop_parity(dp->maps.fd[NF_MAP_POLICY], &rt, old, policy_key_parity);
	record_drop_parity(dp->maps.fd[NF_MAP_PORTS], &rp, old, port_key_parity);
	if (rt.n != nt || rp.n != np) {
		/* a failed rewrite keeps keys already deleted: harmless, deleted again */
		record_write(dp->tenant_dir, id, "trie", rt.key_size, rt.keys, rt.n, NULL, 0);
		record_write(dp->tenant_dir, id, "ports", rp.key_size, rp.keys, rp.n, NULL, 0);
	}
out:
	free(rt.keys);
	free(rp.keys);
	return 1;
}

int dp__sweep_old_parity(struct nf_dp *dp)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct timespec now;
	struct dirent *de;
	int swept = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/flipped", dp->tenant_dir);
	d = opendir(dir);
	if (!d)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	while ((de = readdir(d))) {
		char *end;
		unsigned long id = strtoul(de->d_name, &end, 10);
		struct stat st;

		if (end == de->d_name || *end)
			continue;
		flipped_path(path, sizeof(path), dp->tenant_dir, id);
		if (stat(path, &st))
			continue;
		if (id && id < NF_MAX_TENANTS && dp->tenants[id].name[0] &&
		    !sweep_one(dp, id, &st.st_mtim, &now))
			continue;
		unlink(path);
		swept++;
	}
	closedir(d);
	return swept;
}

/* Remove every entry of the tenant's policy, in both parities, and its records. */
void dp_policy_purge(struct nf_dp *dp, uint32_t id)
{
	struct key_record rt = { .suffix = "trie", .key_size = sizeof(struct nf_policy_key) };
	struct key_record rp = { .suffix = "ports", .key_size = sizeof(struct nf_port_key) };
	char path[PATH_MAX];
	unsigned p;

	if (!record_read(dp->tenant_dir, id, &rt))
		keys_delete(dp->maps.fd[NF_MAP_POLICY], rt.keys, rt.n, rt.key_size);
	if (!record_read(dp->tenant_dir, id, &rp))
		keys_delete(dp->maps.fd[NF_MAP_PORTS], rp.keys, rp.n, rp.key_size);
	free(rt.keys);
	free(rp.keys);
	record_path(path, sizeof(path), dp->tenant_dir, id, "trie");
	unlink(path);
	record_path(path, sizeof(path), dp->tenant_dir, id, "ports");
	unlink(path);
	flipped_path(path, sizeof(path), dp->tenant_dir, id);
	unlink(path);
	for (p = 0; p < 2; p++) {
		snprintf(path, sizeof(path), "%s/%u.rules.%u.json", dp->tenant_dir, id, p);
		unlink(path);
	}
}
