// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The policy lookup (see lookup.h), the in-memory table source over the
 * compiler's output, and the rule-name files. The kernel-map source is in
 * lookup_maps.c (it needs libbpf; the fuzz target links this file without).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <jansson.h>
#include "compile.h"
#include "lookup.h"
#include "store.h"

/* ---- the lookup: bpf/lib/policy.bpf.h, line for line ---- */

static int l4_index(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return NF_L4_TCP;
	case IPPROTO_UDP:
		return NF_L4_UDP;
	case IPPROTO_SCTP:
		return NF_L4_SCTP;
	}
	return -1;
}

int lookup__class_decide(const struct nf_lookup_src *s, const struct nf_class *cls, uint8_t proto,
			 uint16_t port, uint32_t *low, uint32_t *adm)
{
	struct nf_port_key key = {};
	struct nf_port_val v;
	uint32_t mask;
	int l4, p, err;

	*low = cls->any_rule;
	*adm = cls->any_adm;
	l4 = l4_index(proto);
	if (l4 < 0)
		return 0;
	mask = cls->plen_mask[l4];
	if (!mask)
		return 0;
	key.class_id = cls->class_id;
	key.proto = proto;
	for (p = 16; p >= 0; p--) {
		if (!(mask & (1u << p)))
			continue;
		key.plen = (uint8_t)p;
		key.port = htons(p ? (uint16_t)(port & (uint16_t)(0xFFFF << (16 - p))) : 0);
		err = s->ops->port(s->ctx, &key, &v);
		if (!err) {
			*low = v.rule_ref;
			*adm = v.adm;
			return 0;
		}
		if (err != -ENOENT)
			return err;
	}
	return 0;
}

uint32_t lookup__rule_first(uint32_t a, uint32_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return NF_RULE_REF(a) <= NF_RULE_REF(b) ? a : b;
}

bool lookup__allows(uint32_t rule)
{
	return rule == NF_RULE_HOST || (rule && NF_RULE_ACT(rule) == NF_RULE_ALLOW);
}

static int trie_class(const struct nf_lookup_src *s, const struct nf_policy_key *pk,
		      struct nf_class *out)
{
	int err = s->ops->trie(s->ctx, pk, out);

	if (err)
		memset(out, 0, sizeof(*out));
	return err == -ENOENT ? 0 : err;
}

int lookup__peer_classes(const struct nf_lookup_src *s, uint32_t tenant_id, uint32_t epoch,
			 uint8_t dir, const uint8_t addr[16], uint32_t peer_id,
			 struct nf_class *addr_cls, struct nf_class *ident_cls)
{
	struct nf_policy_key pk = {};
	__be32 be;
	int err;

	memset(ident_cls, 0, sizeof(*ident_cls));
	pk.prefixlen = NF_POLICY_KEY_FIXED_BITS + 128;
	pk.tenant_id = htonl(tenant_id);
	pk.parity = epoch & 1;
	pk.dir = dir;
	pk.kind = NF_PEER_ADDR;
	memcpy(pk.data, addr, sizeof(pk.data));
	err = trie_class(s, &pk, addr_cls);
	if (err || !peer_id || peer_id == NF_ID_HOST)
		return err;
	memset(pk.data, 0, sizeof(pk.data));
	pk.prefixlen = NF_POLICY_KEY_FIXED_BITS + 64;
	pk.kind = NF_PEER_IDENT;
	be = htonl(NF_IDENT_TENANT(peer_id));
	memcpy(pk.data, &be, sizeof(be));
	be = htonl(NF_IDENT_INDEX(peer_id));
	memcpy(pk.data + 4, &be, sizeof(be));
	return trie_class(s, &pk, ident_cls);
}

int lookup__decide(const struct nf_lookup_src *s, uint32_t tenant_id, uint32_t epoch,
		   const struct nf_query *q, uint32_t cfg_flags, uint32_t *rule)
{
	struct nf_class addr_cls, ident_cls;
	uint32_t low, adm, low2, adm2;
	int err;

	*rule = 0;
	err = lookup__peer_classes(s, tenant_id, epoch, q->dir, q->addr, q->peer_id, &addr_cls,
				   &ident_cls);
	if (err)
		return err;
	if (q->dir == NF_DIR_INGRESS && q->peer_id == NF_ID_HOST &&
	    (cfg_flags & NF_CFG_ALLOW_HOST_INGRESS)) {
		*rule = NF_RULE_HOST;
		return 0;
	}
	err = lookup__class_decide(s, &addr_cls, q->proto, q->port, &low, &adm);
	if (err)
		return err;
	if (!adm && low && !ident_cls.tiered) {
		*rule = low;
		return 0;
	}
	err = lookup__class_decide(s, &ident_cls, q->proto, q->port, &low2, &adm2);
	if (err)
		return err;
	adm = lookup__rule_first(adm, adm2);
	*rule = adm && NF_RULE_ACT(adm) != NF_RULE_PASS ? adm : lookup__rule_first(low, low2);
	return 0;
}

int lookup__judge(const struct nf_lookup_src *s, uint32_t tenant_id, uint32_t epoch,
		  const struct nf_query *q, uint32_t *peer_id, uint32_t *rule)
{
	struct nf_query qq = *q;
	uint32_t flags = 0;
	int err = 0;

	*rule = 0;
	qq.peer_id = 0;
	if (s->ops->ipcache)
		err = s->ops->ipcache(s->ctx, q->addr, &qq.peer_id);
	if (err == -ENOENT) {
		qq.peer_id = 0;
		err = 0;
	}
	if (!err && s->ops->config_flags)
		err = s->ops->config_flags(s->ctx, &flags);
	if (err == -ENOENT) {	/* no config: no flags, as the datapath reads it */
		flags = 0;
		err = 0;
	}
	*peer_id = qq.peer_id;
	if (err)
		return err;
	return lookup__decide(s, tenant_id, epoch, &qq, flags, rule);
}

/* ---- in memory: the compiler's output, sorted ---- */

static int peer_key_cmp(const struct nf_peer_key *a, const struct nf_peer_key *b)
{
	if (a->dir != b->dir)
		return a->dir < b->dir ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen > b->prefixlen ? -1 : 1;	/* longest first */
	return memcmp(a->data, b->data, sizeof(a->data));
}

static int trie_entry_cmp(const void *a, const void *b)
{
	return peer_key_cmp(&((const struct nf_trie_entry *)a)->key,
			    &((const struct nf_trie_entry *)b)->key);
}

static int port_key_cmp(const struct nf_port_key *a, const struct nf_port_key *b)
{
	if (a->class_id != b->class_id)
		return a->class_id < b->class_id ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->plen != b->plen)
		return a->plen < b->plen ? -1 : 1;
	if (a->port != b->port)
		return ntohs(a->port) < ntohs(b->port) ? -1 : 1;
	return 0;
}

static int port_entry_cmp(const void *a, const void *b)
{
	return port_key_cmp(&((const struct nf_port_entry *)a)->key,
			    &((const struct nf_port_entry *)b)->key);
}

void lookup__sort_compiled(struct nf_compiled *c)
{
	if (c->n_trie)
		qsort(c->trie, c->n_trie, sizeof(*c->trie), trie_entry_cmp);
	if (c->n_ports)
		qsort(c->ports, c->n_ports, sizeof(*c->ports), port_entry_cmp);
}

/* First trie entry whose key is >= k in the sort order. */
static size_t trie_lower_bound(const struct nf_compiled *c, const struct nf_peer_key *k)
{
	size_t lo = 0, hi = c->n_trie;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (peer_key_cmp(&c->trie[mid].key, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void mask_bits(uint8_t *dst, const uint8_t *src, unsigned int bits)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		if (bits >= 8)
			dst[i] = src[i];
		else if (bits)
			dst[i] = src[i] & (uint8_t)(0xFF << (8 - bits));
		else
			dst[i] = 0;
		bits = bits >= 8 ? bits - 8 : 0;
	}
}

/*
 * An LPM trie lookup over the sorted entries: among the (dir, kind) entries
 * with at most `bits` data bits, the longest one that matches data. Walks
 * the prefix lengths present, longest first, one binary search each.
 */
static const struct nf_class *mem_lpm(const struct nf_compiled *c, uint8_t dir, uint8_t kind,
				      const uint8_t *data, unsigned int bits)
{
	struct nf_peer_key k = { .dir = dir, .kind = kind };
	size_t i;

	k.prefixlen = NF_PEER_KEY_FIXED_BITS + bits;	/* zero data: first of that length */
	i = trie_lower_bound(c, &k);
	while (i < c->n_trie && c->trie[i].key.dir == dir && c->trie[i].key.kind == kind) {
		uint32_t pl = c->trie[i].key.prefixlen;

		if (pl < NF_PEER_KEY_FIXED_BITS)
			break;
		k.prefixlen = pl;
		mask_bits(k.data, data, pl - NF_PEER_KEY_FIXED_BITS);
		i = trie_lower_bound(c, &k);
		if (i < c->n_trie && !peer_key_cmp(&c->trie[i].key, &k))
			return &c->trie[i].val;
		if (pl == NF_PEER_KEY_FIXED_BITS)
			break;
		/* on to the next shorter prefix length present */
		k.prefixlen = pl - 1;
		memset(k.data, 0, sizeof(k.data));
		i = trie_lower_bound(c, &k);
	}
	return NULL;
}

static int mem_trie(void *ctx, const struct nf_policy_key *key, struct nf_class *out)
{
	const struct nf_compiled *c = ctx;
	const struct nf_class *cls;

	if (ntohl(key->tenant_id) != c->tenant_id || key->parity != (c->epoch & 1) ||
	    key->prefixlen < NF_POLICY_KEY_FIXED_BITS ||
	    key->prefixlen > NF_POLICY_KEY_FIXED_BITS + 128)
		return -ENOENT;
	cls = mem_lpm(c, key->dir, key->kind, key->data,
		      key->prefixlen - NF_POLICY_KEY_FIXED_BITS);
	if (!cls)
		return -ENOENT;
	*out = *cls;
	return 0;
}

static int mem_port(void *ctx, const struct nf_port_key *key, struct nf_port_val *out)
{
	const struct nf_compiled *c = ctx;
	size_t lo = 0, hi = c->n_ports;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = port_key_cmp(&c->ports[mid].key, key);

		if (!r) {
			*out = c->ports[mid].val;
			return 0;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

static const struct nf_lookup_ops mem_ops = {
	.trie = mem_trie,
	.port = mem_port,
};

void lookup__src_compiled(struct nf_lookup_src *s, const struct nf_compiled *c)
{
	s->ops = &mem_ops;
	s->ctx = (void *)c;
}

/* ---- rule names ---- */

static void names_path(char *buf, size_t len, const char *dir, uint32_t tenant_id, unsigned parity)
{
	snprintf(buf, len, "%s/%u.rules.%u.json", dir, tenant_id, parity);
}

static const char *const dir_names[NF_DIR_MAX] = { "ingress", "egress" };

int lookup__names_write(const char *dir, const char *tenant, const struct nf_compiled *c)
{
	char path[PATH_MAX];
	json_t *o, *runs, *run = NULL;
	uint32_t count = 0;
	size_t i;
	int err = 0;

	runs = json_array();
	o = json_pack("{s:s, s:I, s:I, s:I, s:o}", "tenant", tenant, "tenant_id",
		      (json_int_t)c->tenant_id, "epoch", (json_int_t)c->epoch, "n_rules",
		      (json_int_t)c->n_rules, "rules", runs);
	if (!o || !runs)
		return -ENOMEM;
	for (i = 0; i < c->n_rules; i++) {
		const struct nf_rule_info *ri = &c->rules[i], *prev = i ? &c->rules[i - 1] : NULL;

		if (!prev || prev->dir != ri->dir || prev->index + 1 != ri->index ||
		    prev->cnp_kind != ri->cnp_kind || strcmp(prev->policy, ri->policy)) {
			if (run && json_object_set_new(run, "count", json_integer(count)))
				err = -ENOMEM;
			run = json_pack("{s:s, s:s, s:I}", "policy", ri->policy, "direction",
					dir_names[ri->dir], "index", (json_int_t)ri->index);
			if (!run || json_array_append_new(runs, run))
				err = -ENOMEM;
			/* a cluster policy's (SPEC §13): kind, tier, priority, rule names */
			if (run && ri->cnp_kind &&
			    (json_object_set_new(run, "kind", json_integer(ri->cnp_kind)) ||
			     json_object_set_new(run, "tier", json_integer(ri->tier)) ||
			     json_object_set_new(run, "priority", json_integer(ri->priority)) ||
			     json_object_set_new(run, "names", json_array())))
				err = -ENOMEM;
			count = 0;
		}
		if (run && ri->cnp_kind &&
		    json_array_append_new(json_object_get(run, "names"),
					  ri->rule_name ? json_string(ri->rule_name) : json_null()))
			err = -ENOMEM;
		count++;
	}
	if (run && json_object_set_new(run, "count", json_integer(count)))
		err = -ENOMEM;
	if (err) {
		json_decref(o);
		return err;
	}
	names_path(path, sizeof(path), dir, c->tenant_id, c->epoch & 1);
	return store__write_json(path, o);
}

void lookup__names_free(struct nf_rule_names *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n_runs; i++) {
		for (size_t k = 0; n->runs[i].names && k < n->runs[i].count; k++)
			free(n->runs[i].names[k]);
		free(n->runs[i].names);
		free(n->runs[i].policy);
	}
	free(n->runs);
	free(n);
}

/* The cluster-policy fields of a run (absent: a NetworkPolicy's). */
static int names_read_cluster(json_t *r, struct nf_rule_run *run)
{
	json_t *kind = json_object_get(r, "kind"), *names, *v;
	json_int_t tier = 0, prio = 0;
	size_t i;

	if (!kind)
		return 0;
	names = json_object_get(r, "names");
	if (!json_is_integer(kind) || json_integer_value(kind) < 1 || json_integer_value(kind) > 3 ||
	    json_unpack(r, "{s:I, s:I}", "tier", &tier, "priority", &prio) ||
	    tier < 0 || tier >= NF_TIER_MAX || prio < INT32_MIN || prio > INT32_MAX ||
	    !json_is_array(names) || json_array_size(names) != run->count)
		return -EINVAL;
	run->cnp_kind = (uint8_t)json_integer_value(kind);
	run->tier = (uint8_t)tier;
	run->priority = (int32_t)prio;
	run->names = calloc(run->count, sizeof(*run->names));
	if (!run->names)
		return -ENOMEM;
	json_array_foreach(names, i, v) {
		if (json_is_string(v) && !(run->names[i] = strdup(json_string_value(v))))
			return -ENOMEM;
	}
	return 0;
}

int lookup__names_read(const char *dir, uint32_t tenant_id, const char *tenant, uint32_t epoch,
		       struct nf_rule_names **out)
{
	char path[PATH_MAX];
	struct nf_rule_names *n = NULL;
	json_t *o, *runs, *r;
	json_int_t f_id = 0, f_epoch = 0, n_rules = 0, total = 0;
	const char *f_tenant = NULL;
	size_t i;
	int err = -EINVAL;

	*out = NULL;
	names_path(path, sizeof(path), dir, tenant_id, epoch & 1);
	if (access(path, F_OK))
		return -errno;
	o = json_load_file(path, 0, NULL);
	if (!o)
		return -EINVAL;
	if (json_unpack(o, "{s:s, s:I, s:I, s:I, s:o}", "tenant", &f_tenant, "tenant_id", &f_id,
			"epoch", &f_epoch, "n_rules", &n_rules, "rules", &runs) ||
	    !json_is_array(runs))
		goto out;
	if (strcmp(f_tenant, tenant) || f_id != tenant_id || f_epoch != epoch) {
		err = -ENOENT;	/* another install's, or the id's previous tenant's */
		goto out;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->runs = calloc(json_array_size(runs) + 1, sizeof(*n->runs)))) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(n->tenant, sizeof(n->tenant), "%s", tenant);
	n->epoch = epoch;
	json_array_foreach(runs, i, r) {
		const char *pol, *d;
		json_int_t index, count;
		struct nf_rule_run *run = &n->runs[n->n_runs];

		if (json_unpack(r, "{s:s, s:s, s:I, s:I}", "policy", &pol, "direction", &d, "index",
				&index, "count", &count) ||
		    index < 0 || index > UINT32_MAX || count < 1 || count > UINT32_MAX ||
		    (strcmp(d, "ingress") && strcmp(d, "egress")))
			goto out;
		run->policy = strdup(pol);
		if (!run->policy) {
			err = -ENOMEM;
			goto out;
		}
		run->dir = strcmp(d, "ingress") ? NF_DIR_EGRESS : NF_DIR_INGRESS;
		run->index = (uint32_t)index;
		run->count = (uint32_t)count;
		n->n_runs++;
		err = names_read_cluster(r, run);
		if (err)
			goto out;
		err = -EINVAL;
		total += count;
	}
	if (total != n_rules)
		goto out;
	*out = n;
	n = NULL;
	err = 0;
out:
	lookup__names_free(n);
	json_decref(o);
	return err;
}

const struct nf_rule_run *lookup__rule_run(const struct nf_rule_names *n, uint32_t rule_ref,
					   uint32_t *offset)
{
	uint32_t first = 1;
	size_t i;

	if (!rule_ref || rule_ref == NF_RULE_HOST)
		return NULL;
	rule_ref = NF_RULE_REF(rule_ref);
	for (i = 0; i < n->n_runs; i++) {
		const struct nf_rule_run *r = &n->runs[i];

		if (rule_ref - first < r->count) {
			*offset = rule_ref - first;
			return r;
		}
		first += r->count;
	}
	return NULL;
}

const char *lookup__rule_name(const struct nf_rule_names *n, uint32_t rule_ref, uint8_t *dir,
			      uint32_t *index)
{
	uint32_t off;
	const struct nf_rule_run *r = lookup__rule_run(n, rule_ref, &off);

	if (!r)
		return NULL;
	*dir = r->dir;
	*index = r->index + off;
	return r->policy;
}
