/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Young connections (struct nf_young_slot, abi.h): TCP connections whose
 * SYN was allowed on tc, in their first second or two, in slots of a plain
 * array instead of the nf_ct hash map.
 *
 * Why: a new connection's insert and delete in nf_ct cost about half of
 * what netfence adds to it, and most of that is the miss on the bucket its
 * hash picks (a 4 MB array) and the hash map's locked calls, not the entry
 * (bench/decompose.sh: ct-array-local, README Performance). Here the ports
 * pick an index's low bits, so one client's successive connections to a
 * service take neighbouring slots, and claiming or freeing one is a
 * compare-and-swap on a line that is warm.
 *
 * Semantics: a held slot is a conntrack entry like nf_ct's, with NF_CT_YOUNG
 * in its flags, and a key is in one of the two: a SYN of a tuple nf_ct
 * tracks (a closed tuple reused, a retransmission after its entry moved)
 * goes the ordinary way, nf_ct_tally (abi.h) telling without a lookup that
 * nf_ct has no entry of most keys. Lookups read nf_ct first, then the key's
 * one slot. Packets touch a young entry in place as they touch nf_ct's. The
 * kernel's sweep (lib/gc.bpf.h) moves every slot older than
 * NF_YOUNG_MAX_AGE into nf_ct, and userspace, which reads nf_ct only, runs
 * nf_young_flush first. A slot that is busy sends the SYN to nf_ct as before.
 *
 * Concurrency: a slot is claimed by swapping state FREE for WRITING, and
 * published by storing HELD after its key and value. Whoever swaps HELD for
 * TAKEN owns it until it stores FREE: freeing (a connection's end) and moving
 * (the sweep, a flush) take it so, and check the key again once they own it.
 * Readers check HELD and the key before using the value; a slot freed and
 * taken by another flow under a reader that holds its value is the same
 * hazard as a preallocated hash map's element reused under its reader.
 */
#ifndef NF_BPF_YOUNG_H
#define NF_BPF_YOUNG_H

/* The sweep moves a slot into nf_ct once it is this old (jiffies). */
#define NF_YOUNG_MAX_AGE	NF_HZ

static __always_inline struct nf_young_slot *nf_young_slot_of(const struct nf_ct_key *k)
{
	__u32 idx = nf_young_index(k);

	return bpf_map_lookup_elem(&nf_ct_young, &idx);
}

/* nf_ct_tally's count for k's index moved by d (abi.h). */
static __always_inline void nf_tally_add(const struct nf_ct_key *k, __s32 d)
{
	__u32 idx = nf_young_index(k);
	__s32 *t = bpf_map_lookup_elem(&nf_ct_tally, &idx);

	if (t)
		__sync_fetch_and_add(t, d);
}

/* Whether nf_ct may hold an entry of k (its tally is above 0). */
static __always_inline bool nf_tally_maybe(const struct nf_ct_key *k)
{
	__u32 idx = nf_young_index(k);
	__s32 *t = bpf_map_lookup_elem(&nf_ct_tally, &idx);

	return !t || *(volatile __s32 *)t > 0;
}

/* k's young entry, or NULL. */
static __always_inline struct nf_ct_val *nf_young_find(const struct nf_ct_key *k)
{
	struct nf_young_slot *s = nf_young_slot_of(k);

	if (!s || *(volatile __u32 *)&s->state != NF_YOUNG_HELD)
		return NULL;
	/* the key and value after HELD (x86 keeps loads in order; elsewhere
	 * nf_store_order is a full barrier) */
	nf_store_order();
	if (!nf_ct_key_eq(&s->key, k))
		return NULL;
	return &s->val;
}

/*
 * A new entry (v, flags without NF_CT_YOUNG) for k in its slot: 0; 1 when
 * the slot holds k already (a retransmitted SYN); -1 when it is not free.
 * The caller counts a new one in its tenant's share.
 */
static __noinline int nf_young_put(const struct nf_ct_key *k, const struct nf_ct_val *v,
				   __u32 now)
{
	struct nf_young_slot *s = nf_young_slot_of(k);
	__u32 state;

	if (!s)
		return -1;
	state = *(volatile __u32 *)&s->state;
	if (state == NF_YOUNG_HELD && nf_ct_key_eq(&s->key, k))
		return 1;
	if (state != NF_YOUNG_FREE)
		return -1;
	if (__sync_val_compare_and_swap(&s->state, NF_YOUNG_FREE, NF_YOUNG_WRITING) !=
	    NF_YOUNG_FREE)
		return -1;
	s->born = now;
	__builtin_memcpy(&s->key, k, sizeof(s->key));
	__builtin_memcpy(&s->val, v, sizeof(s->val));
	s->val.flags |= NF_CT_YOUNG;
	nf_store_order();
	*(volatile __u32 *)&s->state = NF_YOUNG_HELD;
	return 0;
}

/*
 * Slot s, owned (HELD swapped for TAKEN), when it holds k (k NULL: any
 * key); NULL otherwise. The owner ends with nf_young_release.
 */
static __always_inline struct nf_young_slot *nf_young_own(struct nf_young_slot *s,
							   const struct nf_ct_key *k)
{
	if (!s || *(volatile __u32 *)&s->state != NF_YOUNG_HELD)
		return NULL;
	if (__sync_val_compare_and_swap(&s->state, NF_YOUNG_HELD, NF_YOUNG_TAKEN) != NF_YOUNG_HELD)
		return NULL;
	if (k && !nf_ct_key_eq(&s->key, k)) {
		/* another flow's, since it was checked: left as it was */
		nf_store_order();
		*(volatile __u32 *)&s->state = NF_YOUNG_HELD;
		return NULL;
	}
	return s;
}

/* An owned slot freed. */
static __always_inline void nf_young_release(struct nf_young_slot *s)
{
	nf_store_order();
	*(volatile __u32 *)&s->state = NF_YOUNG_FREE;
}

#endif
