/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Test packet builder: Ethernet + IPv4/IPv6 (+ IPv6 extension headers, IP
 * fragments) + TCP/UDP/SCTP/ICMP/ICMPv6, ICMP errors quoting an inner packet,
 * ARP, and truncation at any offset. Checksums are left zero: netfence never
 * checks them.
 *
 * A packet is described by a struct pkt_spec, written so that one table of
 * specs can be run for both families: addresses are written as IPv4 text
 * ("10.1.2.3") and, when the packet is built for family 6, become
 * fd00::10.1.2.3 (pkt_addr6_of() — the same mapping pkt_json_for_family()
 * applies to CIDRs in policy JSON). Addresses with a ':' are taken as they are.
 */
#ifndef NF_TEST_PKT_H
#define NF_TEST_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_MAX	    1024
#define PKT_MAX_EXT 16 /* IPv6 extension headers in one spec */

/* ICMP messages, family-independent; built as ICMP or ICMPv6 per family. */
enum pkt_icmp {
	PKT_ICMP_RAW = 0, /* icmp_type as given */
	PKT_ECHO_REQUEST,
	PKT_ECHO_REPLY,
	PKT_DEST_UNREACH, /* an ICMP error: quotes spec->inner */
	PKT_TIME_EXCEEDED, /* an ICMP error: quotes spec->inner */
	PKT_ND_RS, /* IPv6 only: router solicitation (133) */
	PKT_ND_RA, /* 134 */
	PKT_ND_NS, /* 135 */
	PKT_ND_NA, /* 136 */
};

/* proto value meaning "this family's ICMP" (IPPROTO_ICMP or IPPROTO_ICMPV6). */
#define PKT_ICMP 255

/* ihl / doff value meaning "write a zero" (0 itself means the normal value). */
#define PKT_ZERO    0x80

#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_ACK 0x10

struct pkt_spec {
	uint8_t family; /* 4 or 6; 0: whatever pkt_build() is asked for */
	/* An ARP request (IPv4 family only): src is the sender's and dst the
	 * target's protocol address; payload adds trailing bytes (padding), poke
	 * offsets count from the ARP header; nothing else is used. */
	bool arp;
	const char *src, *dst; /* IPv4 text, mapped for family 6 (see above) */
	uint8_t proto; /* IPPROTO_TCP/UDP/SCTP, PKT_ICMP, or any other number */
	uint16_t sport, dport; /* host order */
	uint8_t tcp_flags; /* PKT_TCP_*; 0 = SYN */
	enum pkt_icmp icmp;
	uint8_t icmp_type; /* PKT_ICMP_RAW only */
	uint8_t icmp_code;
	uint16_t icmp_id; /* echo id */
	/* IPv6 extension headers in order (IPPROTO_HOPOPTS, _ROUTING, _DSTOPTS,
	 * _FRAGMENT), each 8 bytes; the fragment header is added at the end of
	 * the chain when frag.on and none is listed. Ignored for IPv4. */
	uint8_t ext[PKT_MAX_EXT];
	uint8_t n_ext;
	struct {
		bool on;
		uint16_t offset; /* in 8-byte units; != 0: a later fragment (no L4 header) */
		bool more; /* MF */
		uint32_t id; /* IPv4: low 16 bits */
	} frag;
	const struct pkt_spec *inner; /* ICMP errors: the quoted packet */
	uint16_t payload; /* bytes of zero payload after the L4 header */
	/* IPv6 hop limit / IPv4 TTL; 0: what the kernel sends (ND 255, MLD 1, else 64) */
	uint8_t hop_limit;
	const char *target; /* ND NS/NA target; NULL: the destination (NS), the source (NA) */
	/* Ethernet type of the frame; 0: ARP, IPv4 or IPv6 as built. */
	uint16_t ethertype;
	uint8_t ihl; /* IPv4 header length override (words); 0 = 5, PKT_ZERO = 0 */
	uint8_t doff; /* TCP data offset override (words); 0 = 5, PKT_ZERO = 0 */
	/* Set bytes after building: offsets from the IP header's first byte. */
	struct {
		uint16_t off;
		uint8_t val;
	} poke[4];
	uint8_t n_poke;
	/* Keep only the first `cut` bytes of the frame (0 = all); for an inner
	 * (quoted) packet, the first `cut` bytes of its IP packet. The IP length
	 * fields still claim the full packet unless cut_fix_len. */
	uint16_t cut;
	/* Keep only the first l4_cut bytes from the L4 header on (0 = all), the
	 * same for both families; lengths as for cut. An ICMP error quoting
	 * "the IP header + 8 bytes" is an inner spec with l4_cut = 8. */
	uint16_t l4_cut;
	bool cut_fix_len;
};

struct pkt {
	uint8_t b[PKT_MAX];
	size_t len;
	size_t l3_off; /* 14 */
	size_t l4_off; /* after IP (and extension) headers; 0 for ARP */
};

/*
 * Build spec as a frame for family (4 or 6; spec->family wins if set).
 * Returns 0, or -EINVAL for a spec that can't be built (bad address, too big).
 */
int pkt_build(struct pkt *p, const struct pkt_spec *spec, int family);

/*
 * The L3 packet alone (no Ethernet header) into buf, as quoted by an ICMP
 * error or as seen by cgroup_skb programs. Returns its length or -EINVAL.
 */
int pkt_build_l3(uint8_t *buf, size_t size, const struct pkt_spec *spec, int family);

/* Cut the frame to len bytes; fix_len: make the IP length fields match. */
void pkt_truncate(struct pkt *p, size_t len, bool fix_len);

/* Address text for family: IPv4 text as is (4) or fd00::a.b.c.d (6). */
void pkt_addr_text(const char *v4, int family, char *buf, size_t len);

/* The 16-byte form netfence uses (IPv4 v4-mapped) of an address text, mapped
 * for family as above. Returns 0 or -EINVAL. */
int pkt_addr16(const char *text, int family, uint8_t out[16]);

/*
 * Policy JSON for family: for 6, every JSON string that is an IPv4 address
 * or CIDR ("10.0.0.0/8", "10.1.2.3") becomes its fd00::/96 twin
 * ("fd00::10.0.0.0/104"). Returns a malloc'ed string (NULL on ENOMEM).
 */
char *pkt_json_for_family(const char *json, int family);

#endif /* NF_TEST_PKT_H */
