// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test packet builder (see pkt.h). Headers are written byte by byte at
 * offsets (no packed structs), in network byte order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "pkt.h"

#define ETH_LEN	       14
#define IP4_LEN	       20
#define IP6_LEN	       40
#define TCP_LEN	       20
#define UDP_LEN	       8
#define SCTP_LEN       12
#define SCTP_INIT_LEN  20
#define ICMP_LEN       8
#define EXT_LEN	       8
#define LATER_FRAG_LEN 16 /* payload bytes of a later fragment */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

void pkt_addr_text(const char *v4, int family, char *buf, size_t len)
{
	if (family == 6 && !strchr(v4, ':'))
		snprintf(buf, len, "fd00::%s", v4);
	else
		snprintf(buf, len, "%s", v4);
}

/* 4 bytes (family 4) or 16 bytes (family 6) in network order. */
static int addr_bytes(const char *text, int family, uint8_t *out)
{
	char buf[INET6_ADDRSTRLEN + 8];

	if (!text)
		text = "0.0.0.0";
	pkt_addr_text(text, family, buf, sizeof(buf));
	if (family == 4)
		return inet_pton(AF_INET, buf, out) == 1 ? 0 : -EINVAL;
	return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -EINVAL;
}

int pkt_addr16(const char *text, int family, uint8_t out[16])
{
	memset(out, 0, 16);
	if (family == 4) {
		out[10] = out[11] = 0xff;
		return addr_bytes(text, 4, out + 12);
	}
	return addr_bytes(text, 6, out);
}

static uint8_t icmp_type_of(const struct pkt_spec *s, int family)
{
	bool v6 = family == 6;

	switch (s->icmp) {
	case PKT_ECHO_REQUEST:
		return v6 ? 128 : 8;
	case PKT_ECHO_REPLY:
		return v6 ? 129 : 0;
	case PKT_DEST_UNREACH:
		return v6 ? 1 : 3;
	case PKT_TIME_EXCEEDED:
		return v6 ? 3 : 11;
	case PKT_ND_RS:
		return 133;
	case PKT_ND_RA:
		return 134;
	case PKT_ND_NS:
		return 135;
	case PKT_ND_NA:
		return 136;
	case PKT_ICMP_RAW:
	default:
		return s->icmp_type;
	}
}

static uint8_t l4_proto(const struct pkt_spec *s, int family)
{
	if (s->proto == PKT_ICMP || s->icmp >= PKT_ND_RS)
		return family == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	return s->proto;
}

/* The L4 header and payload at p (room bytes). Returns its length or -EINVAL. */
static int build_l4(uint8_t *p, size_t room, const struct pkt_spec *s, int family)
{
	uint8_t proto = l4_proto(s, family);
	size_t len = 0;
	int n;

	switch (proto) {
	case IPPROTO_TCP: {
		uint8_t doff = s->doff == PKT_ZERO ? 0 : s->doff ? s->doff : 5;
		size_t hlen = doff >= 5 ? doff * 4u : TCP_LEN;

		if (hlen > room)
			return -EINVAL;
		memset(p, 0, hlen);
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put32(p + 4, 1000); /* seq */
		put32(p + 8, s->tcp_flags & PKT_TCP_ACK ? 2000 : 0);
		p[12] = doff << 4;
		p[13] = s->tcp_flags ? s->tcp_flags : PKT_TCP_SYN;
		put16(p + 14, 65535); /* window */
		len = hlen;
		break;
	}
	case IPPROTO_UDP:
		if (UDP_LEN + s->payload > room)
			return -EINVAL;
		memset(p, 0, UDP_LEN);
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put16(p + 4, UDP_LEN + s->payload);
		len = UDP_LEN;
		break;
	case IPPROTO_SCTP:
		/* common header + one INIT chunk */
		if (SCTP_LEN + SCTP_INIT_LEN > room)
			return -EINVAL;
		memset(p, 0, SCTP_LEN + SCTP_INIT_LEN);
		put16(p, s->sport);
		put16(p + 2, s->dport);
		p[SCTP_LEN] = 1; /* INIT */
		put16(p + SCTP_LEN + 2, SCTP_INIT_LEN);
		put32(p + SCTP_LEN + 4, 0x11223344); /* initiate tag */
		put32(p + SCTP_LEN + 8, 65536); /* a_rwnd */
		put16(p + SCTP_LEN + 12, 1); /* outbound streams */
		put16(p + SCTP_LEN + 14, 1); /* inbound streams */
		put32(p + SCTP_LEN + 16, 1); /* initial TSN */
		len = SCTP_LEN + SCTP_INIT_LEN;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (ICMP_LEN > room)
			return -EINVAL;
		memset(p, 0, ICMP_LEN);
		p[0] = icmp_type_of(s, family);
		p[1] = s->icmp_code;
		len = ICMP_LEN;
		if (s->icmp == PKT_ECHO_REQUEST || s->icmp == PKT_ECHO_REPLY) {
			put16(p + 4, s->icmp_id);
			put16(p + 6, 1);
		} else if (s->icmp == PKT_ND_NS || s->icmp == PKT_ND_NA) {
			/* target address: the packet's destination (NS) / source (NA) */
			if (len + 16 > room)
				return -EINVAL;
			if (addr_bytes(s->target ? s->target : s->icmp == PKT_ND_NS ? s->dst : s->src, 6,
				       p + len))
				return -EINVAL;
			len += 16;
		} else if (s->icmp == PKT_ND_RA) {
			if (len + 8 > room)
				return -EINVAL;
			memset(p + len, 0, 8); /* reachable time, retrans timer */
			len += 8;
		}
		if (s->inner) {
			n = pkt_build_l3(p + len, room - len, s->inner, family);
			if (n < 0)
				return n;
			len += n;
		}
		break;
	default:
		break;
	}
	if (len + s->payload > room)
		return -EINVAL;
	memset(p + len, 0, s->payload);
	return len + s->payload;
}

/*
 * The hop limit (TTL) the kernel gives these messages (RFC 4861, 3810):
 * neighbour discovery 255 (PKT_ND_*, and ICMPv6 133-137 given raw), MLD 1;
 * 64 otherwise; spec->hop_limit when set.
 */
static uint8_t hop_limit_of(const struct pkt_spec *s, int family)
{
	uint8_t t;

	if (s->hop_limit)
		return s->hop_limit;
	if (family != 6 || l4_proto(s, family) != IPPROTO_ICMPV6)
		return 64;
	t = icmp_type_of(s, family);
	if (t >= 133 && t <= 137)
		return 255;
	if ((t >= 130 && t <= 132) || t == 143)
		return 1;
	return 64;
}

/* Build the L3 packet; *l4_off gets the L4 offset in buf. */
static int build_l3(uint8_t *buf, size_t size, const struct pkt_spec *s, int family, size_t *l4_off)
{
	bool later = s->frag.on && s->frag.offset;
	uint8_t proto = l4_proto(s, family);
	size_t hlen, i;
	int n;

	if (family == 4) {
		uint8_t ihl = s->ihl == PKT_ZERO ? 0 : s->ihl ? s->ihl : 5;
		uint16_t fo = 0;

		hlen = ihl >= 5 ? ihl * 4u : IP4_LEN;
		if (hlen > size)
			return -EINVAL;
		memset(buf, 0, hlen);
		buf[0] = 0x40 | (ihl & 0xf);
		buf[8] = hop_limit_of(s, family); /* ttl */
		buf[9] = proto;
		if (s->frag.on) {
			fo = s->frag.offset & 0x1fff;
			if (s->frag.more)
				fo |= 0x2000;
			put16(buf + 4, s->frag.id & 0xffff);
		}
		put16(buf + 6, fo);
		if (addr_bytes(s->src, 4, buf + 12) || addr_bytes(s->dst, 4, buf + 16))
			return -EINVAL;
	} else {
		uint8_t chain[PKT_MAX_EXT + 1];
		size_t n_chain = s->n_ext;
		bool has_frag = false;

		if (n_chain > PKT_MAX_EXT)
			return -EINVAL;
		memcpy(chain, s->ext, n_chain);
		for (i = 0; i < n_chain; i++)
			has_frag |= chain[i] == IPPROTO_FRAGMENT;
		if (s->frag.on && !has_frag)
			chain[n_chain++] = IPPROTO_FRAGMENT;
		hlen = IP6_LEN + n_chain * EXT_LEN;
		if (hlen > size)
			return -EINVAL;
		memset(buf, 0, hlen);
		buf[0] = 0x60;
		buf[6] = n_chain ? chain[0] : proto; /* next header */
		buf[7] = hop_limit_of(s, family);
		if (addr_bytes(s->src, 6, buf + 8) || addr_bytes(s->dst, 6, buf + 24))
			return -EINVAL;
		for (i = 0; i < n_chain; i++) {
			uint8_t *e = buf + IP6_LEN + i * EXT_LEN;

			e[0] = i + 1 < n_chain ? chain[i + 1] : proto;
			e[1] = 0; /* (0 + 1) * 8 bytes; a fragment header is always 8 */
			if (chain[i] == IPPROTO_FRAGMENT) {
				put16(e + 2,
				      (uint16_t)(s->frag.offset << 3) | (s->frag.more ? 1 : 0));
				put32(e + 4, s->frag.id);
			} else if (chain[i] == IPPROTO_HOPOPTS || chain[i] == IPPROTO_DSTOPTS) {
				e[2] = 1; /* PadN option, 4 bytes of padding */
				e[3] = 4;
			}
		}
	}
	*l4_off = hlen;
	if (later) {
		if (hlen + LATER_FRAG_LEN > size)
			return -EINVAL;
		memset(buf + hlen, 0xab, LATER_FRAG_LEN);
		n = LATER_FRAG_LEN;
	} else {
		n = build_l4(buf + hlen, size - hlen, s, family);
		if (n < 0)
			return n;
	}
	/* lengths claim the whole packet unless told to match the cut */
	if (s->l4_cut && s->l4_cut < (size_t)n && s->cut_fix_len)
		n = s->l4_cut;
	if (family == 4)
		put16(buf + 2, hlen + n);
	else
		put16(buf + 4, hlen - IP6_LEN + n);
	if (s->l4_cut && s->l4_cut < (size_t)n)
		n = s->l4_cut;
	for (i = 0; i < s->n_poke && i < 4; i++)
		if (s->poke[i].off < hlen + n)
			buf[s->poke[i].off] = s->poke[i].val;
	return hlen + n;
}

int pkt_build_l3(uint8_t *buf, size_t size, const struct pkt_spec *spec, int family)
{
	size_t l4;
	int n;

	if (spec->family)
		family = spec->family;
	if (family != 4 && family != 6)
		return -EINVAL;
	n = build_l3(buf, size, spec, family, &l4);
	if (n > 0 && spec->cut && spec->cut < n)
		n = spec->cut;
	return n;
}

int pkt_build(struct pkt *p, const struct pkt_spec *s, int family)
{
	static const uint8_t dmac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const uint8_t smac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	size_t l4 = 0;
	int n;

	if (s->family)
		family = s->family;
	if (family != 4 && family != 6)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	memcpy(p->b, dmac, 6);
	memcpy(p->b + 6, smac, 6);
	p->l3_off = ETH_LEN;
	if (s->arp) {
		uint8_t *a = p->b + ETH_LEN;
		size_t i;

		if (ETH_LEN + 28 + s->payload > sizeof(p->b))
			return -EINVAL;
		put16(p->b + 12, s->ethertype ? s->ethertype : 0x0806);
		put16(a, 1); /* Ethernet */
		put16(a + 2, 0x0800);
		a[4] = 6;
		a[5] = 4;
		put16(a + 6, 1); /* request */
		memcpy(a + 8, smac, 6);
		if (addr_bytes(s->src, 4, a + 14) || addr_bytes(s->dst, 4, a + 24))
			return -EINVAL;
		memset(a + 28, 0, s->payload);
		p->len = ETH_LEN + 28 + s->payload;
		for (i = 0; i < s->n_poke && i < 4; i++)
			if (s->poke[i].off < 28 + s->payload)
				a[s->poke[i].off] = s->poke[i].val;
	} else {
		put16(p->b + 12, s->ethertype ? s->ethertype : family == 4 ? 0x0800 : 0x86dd);
		n = build_l3(p->b + ETH_LEN, sizeof(p->b) - ETH_LEN, s, family, &l4);
		if (n < 0)
			return n;
		p->l4_off = ETH_LEN + l4;
		p->len = ETH_LEN + n;
	}
	if (s->cut)
		pkt_truncate(p, s->cut, s->cut_fix_len);
	return 0;
}

void pkt_truncate(struct pkt *p, size_t len, bool fix_len)
{
	uint8_t *ip = p->b + p->l3_off;

	if (len >= p->len)
		return;
	p->len = len;
	if (!fix_len || len < p->l3_off + 1)
		return;
	if ((ip[0] >> 4) == 4 && len >= p->l3_off + 4)
		put16(ip + 2, len - p->l3_off);
	else if ((ip[0] >> 4) == 6 && len >= p->l3_off + IP6_LEN)
		put16(ip + 4, len - p->l3_off - IP6_LEN);
}

/* "a.b.c.d" or "a.b.c.d/p" exactly; *plen = -1 without a prefix. */
static bool parse_v4_text(const char *s, size_t n, int *plen)
{
	char buf[32], *slash;
	struct in_addr a;
	char *end;
	long v;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	*plen = -1;
	slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		v = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || v < 0 || v > 32)
			return false;
		*plen = (int)v;
	}
	return inet_pton(AF_INET, buf, &a) == 1;
}

char *pkt_json_for_family(const char *json, int family)
{
	/* Worst case: "1.1.1.1" (9 chars) -> "fd00::1.1.1.1/97"-like (+7). */
	size_t len = strlen(json), o = 0, i = 0;
	char *out = malloc(2 * len + 64);

	if (!out)
		return NULL;
	while (i < len) {
		const char *q = json[i] == '"' ? strchr(json + i + 1, '"') : NULL;
		size_t n;
		int plen;

		if (!q) {
			out[o++] = json[i++];
			continue;
		}
		n = q - (json + i + 1);
		if (family == 6 && parse_v4_text(json + i + 1, n, &plen)) {
			char addr[32];

			memcpy(addr, json + i + 1, n);
			addr[n] = 0;
			if (plen >= 0) {
				*strchr(addr, '/') = 0;
				o += sprintf(out + o, "\"fd00::%s/%d\"", addr, 96 + plen);
			} else {
				o += sprintf(out + o, "\"fd00::%s\"", addr);
			}
		} else {
			memcpy(out + o, json + i, n + 2);
			o += n + 2;
		}
		i += n + 2;
	}
	out[o] = 0;
	return out;
}
