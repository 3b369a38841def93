// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Addresses and CIDRs: parsed into the 16-byte form used everywhere after
 * the parser (IPv4 v4-mapped, prefix length in the 128-bit space), printed
 * back, compared. ipBlock, Tenant spec.cidrs and the CLI use these.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include "policy_internal.h"

int nf_parse_addr(const char *s, uint8_t addr[16], bool *is_v4)
{
	struct in_addr a4;

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		memset(addr, 0, 10);
		addr[10] = 0xff;
		addr[11] = 0xff;
		memcpy(addr + 12, &a4, 4);
		if (is_v4)
			*is_v4 = true;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		if (is_v4)
			*is_v4 = false;
		return 0;
	}
	return -EINVAL;
}

static void clear_host_bits(uint8_t addr[16], unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		if (plen >= 8) {
			plen -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff << (8 - plen));
		plen = 0;
	}
}

int nf_parse_cidr(const char *s, struct nf_cidr *out)
{
	char abuf[INET6_ADDRSTRLEN + 1];
	const char *slash, *p;
	unsigned int plen = 0;
	struct nf_cidr c = {};
	size_t alen;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash)
		return -EINVAL;
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(abuf))
		return -EINVAL;
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';
	/* Decimal, no sign, no leading zero, at most 3 digits. */
	p = slash + 1;
	if (!*p || strlen(p) > 3 || (p[0] == '0' && p[1]))
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		plen = plen * 10 + (unsigned int)(*p - '0');
	}
	if (nf_parse_addr(abuf, c.addr, &c.is_v4))
		return -EINVAL;
	if (plen > (c.is_v4 ? 32u : 128u))
		return -EINVAL;
	c.plen = (uint8_t)(c.is_v4 ? 96 + plen : plen);
	clear_host_bits(c.addr, c.plen);
	*out = c;
	return 0;
}

static bool addr_is_v4mapped(const uint8_t addr[16])
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(addr, pfx, sizeof(pfx));
}

void nf_format_addr(const uint8_t addr[16], char *buf, size_t len)
{
	if (!len)
		return;
	if (addr_is_v4mapped(addr)) {
		if (!inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len))
			buf[0] = '\0';
	} else if (!inet_ntop(AF_INET6, addr, buf, (socklen_t)len)) {
		buf[0] = '\0';
	}
}

void nf_format_cidr(const struct nf_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (c->is_v4 && addr_is_v4mapped(c->addr) && c->plen >= 96) {
		nf_format_addr(c->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%u", a, c->plen - 96u);
	} else {
		if (!inet_ntop(AF_INET6, c->addr, a, sizeof(a)))
			a[0] = '\0';
		snprintf(buf, len, "%s/%u", a, c->plen);
	}
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
	unsigned int bytes = plen / 8, bits = plen % 8;
	uint8_t mask;

	if (plen > 128)
		return false;
	if (memcmp(a, b, bytes))
		return false;
	if (!bits)
		return true;
	mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool nf_cidr_contains(const struct nf_cidr *outer, const struct nf_cidr *inner)
{
	return inner->plen >= outer->plen && prefix_eq(outer->addr, inner->addr, outer->plen);
}

bool nf_cidr_has_addr(const struct nf_cidr *c, const uint8_t addr[16])
{
	return prefix_eq(c->addr, addr, c->plen);
}
