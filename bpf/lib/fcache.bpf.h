/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The flow cache (struct nf_fc_slot): per CPU, direct-mapped, in front of
 * nf_ct for the commonest packet of all, one of a tracked flow that changes
 * nothing (no SYN, FIN or RST, its direction already seen). A hit is a few
 * loads and compares with no call into the kernel: the nf_ct lookup is a
 * call to the hash map's lookup and another to jhash, and on this machine
 * (AMD, SRSO safe-RET) their returns cost most of a tracked packet (perf,
 * veth UDP flood: the instruction after the lookup's call took half of the
 * program's samples).
 *
 * A slot holds what the fast path found (nf_ct_established): the entry's
 * key and tenant, the directions whose packets changed nothing, its
 * last_seen_ns and the policy_gen its verdict stood under. It answers (for
 * such packets, a new connection's SYN-ACK, and a RST, nf_fc_hit) only while
 *   - policy_gen is still that gen: every policy flip, ipcache change,
 *     endpoint move and every write of nf_ct by userspace (purge, re-judge)
 *     bumps it, so no slot outlives one (revocation as on the fast path);
 *   - its last_seen_ns is at most NF_CT_REFRESH jiffies old: the entry can't
 *     have expired (every lifetime is seconds long), and once that passes
 *     the packet goes to nf_ct, which refreshes the entry as before;
 *   - the packet's direction is in dirs and it carries no SYN, FIN or RST
 *     (but see nf_fc_hit for the SYN-ACK and the RST).
 * A flow's FIN, RST or SYN without ACK forgets this CPU's slot
 * (nf_fc_unsettles, nf_fc_forget), and so does deleting its entry, so a
 * connection's last ACK still reaches nf_ct and ends it there. Slots are
 * filled only on tc, and only for flows whose entry has no FIN yet.
 *
 * What a slot can't see: a flow ended on another CPU. That CPU's SYN, FIN or
 * RST can't reach this CPU's slot, so this CPU may pass the flow's late
 * packets for up to NF_CT_REFRESH jiffies after its entry went (they were
 * allowed a moment before; conntrack keeps a closed flow 10 s).
 *
 * Per CPU, a slot has one writer at a time: tc programs run with bottom
 * halves off (egress) or in softirq (ingress), so one can't interrupt
 * another on its CPU. cgroup_skb programs can be interrupted by softirqs:
 * they neither read nor fill slots, and only forget (one byte store).
 * Colliding flows evict each other, which only costs the nf_ct lookup.
 */
#ifndef NF_BPF_FCACHE_H
#define NF_BPF_FCACHE_H

/*
 * A key's words mixed by multiplication: its slots are the top bits. The
 * first word (scope and protocol) is left out: on tc the scope is the netns
 * cookie, a cold load on a connection's first packets, and without it the
 * slot's own cache miss starts without waiting for that one (bench/ab.sh:
 * 26-47 ns less program time per connection). Keys that differ only there
 * share slots, and the compare still takes all six words.
 */
static __always_inline __u64 nf_fc_mix(const struct nf_ct_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = w[3] * 0x9e3779b97f4a7c15ULL ^ (w[1] ^ w[4]) * 0xc2b2ae3d27d4eb4fULL ^
		  (w[2] ^ w[5]) * 0x165667b19e3779f9ULL;

	return (h ^ (h >> 32)) * 0x9e3779b97f4a7c15ULL;
}

static __always_inline __u32 nf_fc_index(const struct nf_ct_key *k)
{
	return (__u32)(nf_fc_mix(k) >> (64 - NF_FC_BITS));
}

/*
 * This CPU's slot for k, holding k or not. The slots are one plain array,
 * each CPU's NF_FC_SLOTS in a row (the verifier inlines both the CPU number
 * and the lookup): a per-CPU array's lookup first loads the slot's pointer
 * from a table of them, a second dependent cache miss on a packet's way
 * (perf, veth UDP flood). BPF_F_MMAPABLE starts the values on a page, so
 * no 64-byte slot straddles two cache lines.
 */
static __always_inline struct nf_fc_slot *nf_fc_slot(const struct nf_ct_key *k)
{
	__u32 idx = bpf_get_smp_processor_id() << NF_FC_BITS | nf_fc_index(k);

	return bpf_map_lookup_elem(&nf_flow_cache, &idx);
}

/* Two keys equal: their six words compared, no call. */
static __always_inline bool nf_ct_key_eq(const struct nf_ct_key *x, const struct nf_ct_key *k)
{
	const __u64 *a = (const __u64 *)k, *b = (const __u64 *)x;

	return !((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
		 (a[5] ^ b[5]));
}

enum nf_fc_answer {
	NF_FC_MISS,	/* nf_ct decides */
	NF_FC_PASS,	/* pass it: it changes nothing, or it is the handshake's SYN-ACK */
	NF_FC_END,	/* pass it and end its flow (a RST): the slot is forgotten */
	NF_FC_END_YOUNG,	/* the same, its entry in nf_ct_young (lib/young.bpf.h) */
};

/*
 * What this CPU's slot says of a packet of k's flow on tc (see above):
 *   - a packet that changes nothing, its direction filled: NF_FC_PASS;
 *   - the SYN-ACK of a connection whose SYN filled the slot (NF_FC_SYNACK),
 *     travelling the other way: NF_FC_PASS. It leaves the entry's first
 *     reply unmarked: the reply direction is not filled, so the flow's next
 *     reply goes to nf_ct and marks it (a connection reset right after its
 *     handshake, the commonest short one, never needs it);
 *   - a RST (without SYN or FIN) in a filled direction, its end not
 *     deferred to a guard: NF_FC_END (NF_FC_END_YOUNG when the slot says
 *     the entry is young); *tenant_id and *gen get the entry's
 *     tenant and the gen its verdict stands under.
 *     nf_ct would delete the entry (nf_ct_ends): the caller does, without
 *     the lookup.
 */
static __always_inline enum nf_fc_answer nf_fc_hit(const struct nf_ct_key *k, __u8 dir,
						   __u8 tcp_flags, bool defer_end, __u32 *tenant_id,
						   __u32 *gen)
{
	enum nf_fc_answer a = NF_FC_PASS;
	__u8 need = 1 << dir;
	struct nf_fc_slot *s;
	struct nf_config *cfg;
	__u32 zero = 0;

	if (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) {
		if ((tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_FIN | TCP_FLAG_RST)) ==
		    (TCP_FLAG_SYN | TCP_FLAG_ACK))
			need = NF_FC_SYNACK;
		else if ((tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) == TCP_FLAG_RST &&
			 !defer_end)
			a = NF_FC_END;
		else
			return NF_FC_MISS;
	}
	s = nf_fc_slot(k);
	if (!s || !(s->dirs & need))
		return NF_FC_MISS;
	/* the SYN-ACK goes the way the SYN did not */
	if (need == NF_FC_SYNACK && (s->dirs & (1 << dir)))
		return NF_FC_MISS;
	cfg = bpf_map_lookup_elem(&nf_config, &zero);
	if (!cfg || !cfg->policy_gen || s->gen != cfg->policy_gen)
		return NF_FC_MISS;
	if ((__s32)((__u32)nf_now() - s->seen) > (__s32)NF_CT_REFRESH)
		return NF_FC_MISS;
	if (!nf_ct_key_eq(&s->key, k))
		return NF_FC_MISS;
	if (a == NF_FC_END) {
		*tenant_id = s->tenant_id;
		*gen = s->gen;
		if (s->dirs & NF_FC_YOUNG)
			a = NF_FC_END_YOUNG;
		s->dirs = 0;
	}
	return a;
}

/*
 * Remember that dir's packets of k's flow (tenant_id's) change nothing, as
 * its entry (last_seen_ns seen) stood under gen. fresh: a new connection's
 * SYN inserted the entry; the other direction is not known yet, but its
 * SYN-ACK may pass (NF_FC_SYNACK). young: the entry is in nf_ct_young
 * (NF_FC_YOUNG), where a RST taken here frees it.
 */
static __always_inline void nf_fc_fill(const struct nf_ct_key *k, __u8 dir, __u32 gen, __u64 seen,
				       __u32 tenant_id, bool fresh, bool young)
{
	struct nf_fc_slot *s = nf_fc_slot(k);
	__u8 dirs = 1 << dir, where = young ? NF_FC_YOUNG : 0;

	if (!s)
		return;
	if (!fresh && s->gen == gen && nf_ct_key_eq(&s->key, k)) {
		if ((s->dirs & dirs) && s->seen == (__u32)seen &&
		    (s->dirs & NF_FC_YOUNG) == where)
			return;		/* nothing new: no store */
		dirs |= s->dirs & ~NF_FC_YOUNG;
	} else {
		__builtin_memcpy(&s->key, k, sizeof(s->key));
		s->gen = gen;
		s->tenant_id = tenant_id;
		if (fresh)
			dirs |= NF_FC_SYNACK;
	}
	s->seen = (__u32)seen;
	s->dirs = dirs | where;
}

/*
 * A TCP packet after which a direction's packets may change the entry again:
 * a FIN or RST (closing), or a SYN without ACK (a closed tuple reopened:
 * its reply is new again). A SYN-ACK changes nothing a slot holds (the first
 * reply marks only its own direction seen), so the SYN's slot stays for the
 * handshake's ACK.
 */
static __always_inline bool nf_fc_unsettles(__u8 tcp_flags)
{
	return (tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) ||
	       (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* This CPU's slot no longer speaks for k's flow. */
static __always_inline void nf_fc_forget(const struct nf_ct_key *k)
{
	struct nf_fc_slot *s = nf_fc_slot(k);

	if (s && s->dirs && nf_ct_key_eq(&s->key, k))
		s->dirs = 0;
}

/*
 * ---- Recently closed connections (struct nf_closed_slot) ----
 * A TCP connection's entry goes with its RST or last ACK (nf_ct_ends), so
 * that closed connections take no room in their tenant's share. Packets
 * already in flight then (the peer's FIN or ACK crossing the RST) used to
 * be judged as a new flow's first and dropped as policy_denied: noise in
 * the tenant's drop counters, and a full verdict each. The slot of a
 * connection that ended under policy_gen gen remembers it for
 * NF_CT_TCP_CLOSED_S (as long as Linux conntrack keeps a closed one), and
 * a non-SYN TCP packet of it that finds no entry passes, while gen holds
 * and no later close took the slot. A SYN is always judged as new.
 *
 * Slots are a seqcount each: a reader takes a slot only if seq was even and
 * unchanged around its reads. Two kinds of writer (nf_ct_closed, abi.h):
 *   - tc programs write their CPU's region, alone: tc programs run with
 *     bottom halves off or in softirq, so none interrupts another on its
 *     CPU, and nothing else writes there. Plain stores, none of them a read
 *     of the slot: seq's values come from the region's first slot, which
 *     counts its writes (never the same value twice). The slot's line is
 *     cold (a connection closes once), and the exchanges that took and
 *     released it were a quarter of tc_peer's samples in the connect loop
 *     (perf): a locked instruction waits for its miss, a plain store does
 *     not. nf_ct_closed_cpu says which CPU's region took a slot last.
 *   - cgroup programs (which softirqs, and so other programs, can
 *     interrupt, on any CPU) write the shared region: a writer takes the
 *     slot by exchanging seq for 1 (a slot another writer holds is left,
 *     and that close goes unremembered) and ends by storing the even seq it
 *     found plus 2.
 * A close whose slot a later close took (in the shared region, or a slot of
 * the same number in any CPU's region, which takes nf_ct_closed_cpu's name
 * for it), or that found its shared slot being written, fails safe: its late
 * packets are judged as new.
 */
/* Slot *idx of nf_ct_closed (the caller's one key on the stack: tc_peer's
 * stack is near the verifier's 512 bytes). */
static __always_inline struct nf_closed_slot *nf_cl_at(__u32 *idx)
{
	return bpf_map_lookup_elem(&nf_ct_closed, idx);
}

/* A key's slot in the shared region (mix: nf_fc_mix of the key). */
static __always_inline __u32 nf_cl_shared_index(__u64 mix)
{
	return (__u32)(mix >> (64 - NF_CL_BITS));
}

/* Its slot in a CPU's region, never the first (the region's counter). */
static __always_inline __u32 nf_cl_cpu_index(__u64 mix)
{
	__u32 h = (__u32)(mix >> (64 - NF_CL_CPU_BITS));

	return h ? h : 1;
}

/* Where CPU cpu's region starts: its counter slot. */
static __always_inline __u32 nf_cl_cpu_base(__u32 cpu)
{
	return NF_CL_SLOTS + (cpu << NF_CL_CPU_BITS);
}

/*
 * The stores before it reach other CPUs before the stores after it: x86
 * keeps stores in order (TSO), so only the compiler must; elsewhere a full
 * barrier.
 */
static __always_inline void nf_store_order(void)
{
#if defined(__TARGET_ARCH_x86)
	asm volatile("" : : : "memory");
#else
	nf_fence();
#endif
}

/* A tc program's close, into this CPU's region (see above). */
static __always_inline void nf_cl_record_cpu(const struct nf_ct_key *k, __u64 mix, __u32 gen,
					     __u64 now)
{
	__u32 cpu = bpf_get_smp_processor_id(), h = nf_cl_cpu_index(mix);
	__u32 key = nf_cl_cpu_base(cpu);
	struct nf_closed_slot *head = nf_cl_at(&key), *s;
	struct nf_cl_where *where;
	__u64 seq;

	key += h;
	s = nf_cl_at(&key);
	key = 0;
	where = bpf_map_lookup_elem(&nf_ct_closed_cpu, &key);
	if (!head || !s || !where)
		return;
	seq = head->seq + 2;
	head->seq = seq;
	*(volatile __u64 *)&s->seq = seq - 1;
	nf_store_order();
	__builtin_memcpy(&s->key, k, sizeof(s->key));
	s->gen = gen;
	s->at = (__u32)now;
	nf_store_order();
	*(volatile __u64 *)&s->seq = seq;
	where->cpu1[h] = (__u16)(cpu + 1);
}

/* A cgroup program's close, into the shared region (see above). */
static __always_inline void nf_cl_record_shared(const struct nf_ct_key *k, __u64 mix, __u32 gen,
						__u64 now)
{
	__u32 key = nf_cl_shared_index(mix);
	struct nf_closed_slot *s = nf_cl_at(&key);
	__u64 seq;

	if (!s)
		return;
	/* taken: seq odd (an exchange, one locked access to the line) */
	seq = __sync_lock_test_and_set(&s->seq, 1);
	if (seq & 1)
		return;		/* another CPU is writing it, and will make it even */
	__builtin_memcpy(&s->key, k, sizeof(s->key));
	s->gen = gen;
	s->at = (__u32)now;
	__sync_lock_test_and_set(&s->seq, seq + 2);	/* released, fully ordered */
}

/*
 * k's connection ended now with a packet going dir, seen at hook, its
 * verdict standing under gen. Remembered only when the endpoint sent that
 * packet (its RST, or the last ACK): its peer's packets may still be in
 * flight. One that received its peer's RST or last ACK has had the peer's
 * last word.
 */
static __always_inline void nf_cl_record(const struct nf_ct_key *k, __u8 dir, __u8 hook,
					 __u32 gen, __u64 now)
{
	__u64 mix;

	if (dir != NF_DIR_EGRESS || !gen || NF_CT_KEY_PROTO(k) != NF_IPPROTO_TCP)
		return;
	mix = nf_fc_mix(k);
	if (hook == NF_HOOK_TC)
		nf_cl_record_cpu(k, mix, gen, now);
	else
		nf_cl_record_shared(k, mix, gen, now);
}

/* Whether slot s holds k's connection, closed under gen a moment ago. */
static __always_inline bool nf_cl_holds(struct nf_closed_slot *s, const struct nf_ct_key *k,
					__u32 gen)
{
	bool held;
	__u64 seq;

	if (!s)
		return false;
	seq = *(volatile __u64 *)&s->seq;
	if (seq & 1)
		return false;
	nf_fence();
	held = s->gen && s->gen == gen && nf_ct_key_eq(&s->key, k) &&
	       (__s32)((__u32)nf_now() - s->at) <= (__s32)(NF_CT_TCP_CLOSED_S * NF_HZ);
	nf_fence();
	return held && *(volatile __u64 *)&s->seq == seq;
}

/* A TCP packet without SYN of k, which has no entry: did its connection just close? */
static __always_inline bool nf_cl_hit(const struct nf_ct_key *k, __u8 tcp_flags)
{
	struct nf_cl_where *where;
	struct nf_config *cfg;
	__u32 key = 0, h;
	__u64 mix;
	__u16 cpu1;

	if (NF_CT_KEY_PROTO(k) != NF_IPPROTO_TCP || (tcp_flags & TCP_FLAG_SYN))
		return false;
	cfg = bpf_map_lookup_elem(&nf_config, &key);
	where = bpf_map_lookup_elem(&nf_ct_closed_cpu, &key);
	if (!cfg || !where)
		return false;
	mix = nf_fc_mix(k);
	/* closed where a cgroup program saw it */
	key = nf_cl_shared_index(mix);
	if (nf_cl_holds(nf_cl_at(&key), k, cfg->policy_gen))
		return true;
	/* or where tc did, in the region of the CPU that took its slot last */
	h = nf_cl_cpu_index(mix);
	cpu1 = *(volatile __u16 *)&where->cpu1[h];
	if (!cpu1)
		return false;
	key = nf_cl_cpu_base(cpu1 - 1) + h;
	return nf_cl_holds(nf_cl_at(&key), k, cfg->policy_gen);
}

#endif
