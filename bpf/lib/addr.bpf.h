/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * 16-byte addresses, the one form of IPv4 and IPv6 alike in every key
 * (IPv4 as v4-mapped, ::ffff:a.b.c.d). Shared by the datapath and the bench's
 * reference programs, so both copy addresses the same (cheapest) way.
 */
#ifndef NF_BPF_ADDR_H
#define NF_BPF_ADDR_H

static __always_inline void nf_v4_mapped(__u8 *dst, __be32 addr)
{
	__u32 *d = (__u32 *)dst;

	d[0] = 0;
	d[1] = 0;
	d[2] = bpf_htonl(0x0000ffff);
	d[3] = addr;
}

static __always_inline bool nf_is_v4_mapped(const void *a)
{
	const __u32 *w = a;

	return !w[0] && !w[1] && w[2] == bpf_htonl(0x0000ffff);
}

/*
 * A 16-byte address, as four 32-bit words: __builtin_memcpy of a u8 array
 * compiles to sixteen byte loads and stores. Every address here sits at a
 * 4-byte boundary of its struct (stack accesses must be aligned); packet
 * headers are read unaligned where they are (the JIT allows it).
 */
static __always_inline void nf_copy_addr(__u8 *dst, const void *src)
{
	__u32 *d = (__u32 *)dst;
	const __u32 *s = src;

	d[0] = s[0];
	d[1] = s[1];
	d[2] = s[2];
	d[3] = s[3];
}

#endif
