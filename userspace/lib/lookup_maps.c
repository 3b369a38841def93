// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The lookup's table source over the live kernel maps (lookup.h): the same
 * map lookups the datapath makes, from userspace.
 */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include "lookup.h"

static int map_lookup(int fd, const void *key, void *val)
{
	if (fd < 0)
		return -EBADF;
	return bpf_map_lookup_elem(fd, key, val) ? -errno : 0;
}

static int maps_trie(void *ctx, const struct nf_policy_key *key, struct nf_class *out)
{
	return map_lookup(((const struct nf_lookup_maps *)ctx)->policy, key, out);
}

static int maps_port(void *ctx, const struct nf_port_key *key, struct nf_port_val *out)
{
	return map_lookup(((const struct nf_lookup_maps *)ctx)->ports, key, out);
}

static int maps_ipcache(void *ctx, const uint8_t addr[16], uint32_t *id)
{
	struct nf_lpm_addr_key k = { .prefixlen = 128 };
	struct nf_ipcache_val v;
	int err;

	memcpy(k.addr, addr, sizeof(k.addr));
	err = map_lookup(((const struct nf_lookup_maps *)ctx)->ipcache, &k, &v);
	*id = err ? 0 : v.id;
	return err;
}

static int maps_config_flags(void *ctx, uint32_t *flags)
{
	struct nf_config cfg = {};
	__u32 zero = 0;
	int err;

	err = map_lookup(((const struct nf_lookup_maps *)ctx)->config, &zero, &cfg);
	*flags = err ? 0 : cfg.flags;
	return err;
}

static const struct nf_lookup_ops maps_ops = {
	.trie = maps_trie,
	.port = maps_port,
	.ipcache = maps_ipcache,
	.config_flags = maps_config_flags,
};

void lookup__src_maps(struct nf_lookup_src *s, const struct nf_lookup_maps *m)
{
	s->ops = &maps_ops;
	s->ctx = (void *)m;
}
