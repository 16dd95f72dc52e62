/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sact_sched.h - the memory shared by sact_sched.bpf.c (the sched_switch
 * program) and libsact's bpf backend (userspace/lib/bpf_backend.c).
 *
 * Included by both sides: by the BPF object after vmlinux.h, by user space
 * after <linux/types.h>.  It must use nothing but __u32/__u64.
 *
 * The whole struct sact_bpf_shared is the program's .bss, a BPF array map
 * with BPF_F_MMAPABLE that the skeleton maps into the process: both sides
 * read and write the same bytes, with no syscall.  The M slots (struct
 * sact_bpf_m) are another such array, m_state, mapped by user space.
 *
 * Legend (who writes, who reads, with what atomicity), per field:
 *   U:  written by user space only (the M itself unless said), plain stores
 *       (WRITE_ONCE / __atomic_store_n release); read by the program.
 *   B:  written by the program only, plain stores: the program runs for a
 *       given task on one CPU at a time (a task's switch-out completes
 *       before it can be switched in anywhere), so per-M fields it writes
 *       have one writer; user space reads them with relaxed loads.
 *   A:  written by both with atomics only (CAS / fetch_add).
 *   I:  set before the program is attached (or while the slot is free) and
 *       not changed while the slot is in use.
 */
#ifndef SACT_SCHED_H
#define SACT_SCHED_H

/*
 * Ps: fixed at compile time (the per-P words are in the .bss, which has a
 * fixed size); a power of two: the program masks indexes with it for the
 * verifier.  Ms: no fixed limit in the program.  Their slots are the map
 * m_state (an mmap-able array) and their tids the hash m_slots, both sized
 * by user space before the load (struct sact_bpf_opts.mmax: the runtime's
 * cap on Ms), up to SACT_BPF_MMAX_LIMIT, what the P word's 16-bit owner
 * field can name.
 */
#define SACT_BPF_MAX_P		64
#define SACT_BPF_MMAX_DEFAULT	10000
#define SACT_BPF_MMAX_LIMIT	0xffff

/*
 * The P word (struct sact_bpf_p.own, A): one 64-bit word that every change
 * of a P's ownership goes through with a compare-and-swap, by user space and
 * by the program alike.  See "The ownership protocol" in bpf_backend.c.
 *
 *   bits  0..15  owner: M slot that owns (OWNED) or last owned (HANDOFF) it
 *   bits 16..23  state: SACT_BPF_P_*
 *   bits 32..63  seq:   +1 on every transition (no ABA, and a handoff
 *                       event names the transition it announces)
 */
#define SACT_BPF_P_IDLE		0	/* nobody holds it; anyone may take it */
#define SACT_BPF_P_OWNED	1	/* held by M `owner` */
#define SACT_BPF_P_HANDOFF	2	/* its owner blocked; free for a standby
					 * or for the old owner to take back */

#define SACT_BPF_OWN(seq, state, owner)					\
	(((__u64)(__u32)(seq) << 32) | ((__u64)((state) & 0xff) << 16) |	\
	 ((__u64)(owner) & 0xffff))
#define SACT_BPF_OWN_OWNER(w)	((__u32)((w) & 0xffff))
#define SACT_BPF_OWN_STATE(w)	((__u32)(((w) >> 16) & 0xff))
#define SACT_BPF_OWN_SEQ(w)	((__u32)((w) >> 32))

/*
 * struct sact_bpf_m.in_g: what the M runs, as the program needs to know it.
 * A block in either G state hands the P off; only IN_G_RAW returns are
 * checked by the program (sys_exit), IN_G_WRAPPED ones by the wrapper.
 */
#define SACT_BPF_IN_RUNTIME	0	/* runtime code, or no P */
#define SACT_BPF_IN_G_RAW	1	/* G code, P held */
#define SACT_BPF_IN_G_WRAPPED	2	/* G code inside sact_syscall: the
					 * wrapper re-checks its P on return */

/* How the program wakes a standby (rodata wake_mode). */
#define SACT_BPF_WAKE_RING_PER_P	0	/* ring p_rings[p]: P's standby */
#define SACT_BPF_WAKE_RING_FUTEX	1	/* ring `events`: a relay thread
						 * futex-wakes a standby */

/* One handoff, as published in a ring buffer. */
struct sact_bpf_event {
	__u32 p;		/* the P handed off */
	__u32 from_m;		/* the M slot that blocked holding it */
	__u32 seq;		/* seq of the P word after the handoff */
	__u32 cpu;		/* CPU the M blocked on */
	__u64 ts_ns;		/* bpf_ktime_get_ns() at the block (CLOCK_MONOTONIC) */
};

/* Per-P state; one cache line each. */
struct sact_bpf_p {
	__u64 own;		/* A: the P word (above) */
	__u64 handoffs;		/* B: handoffs of this P by the program */
	__u64 pad[6];
} __attribute__((aligned(64)));

/*
 * Per-M slot, one element of the map m_state (not in the .bss: its size is
 * chosen at load); user space maps the array.  A slot is in use while
 * tid != 0 and the hash map m_slots holds tid -> slot.
 */
struct sact_bpf_m {
	__u32 tid;		/* I: the thread (0: free slot) */
	__u32 p;		/* U: P held + 1 (0: none); published after the
				 * M won the P word, cleared before it lets go */
	__u32 in_g;		/* U: SACT_BPF_IN_*: only a block in G code
				 * hands its P off */
	__u32 blocked;		/* B: 1 from a block until the next switch-in */
	__u64 blocks;		/* B: blocks (switch-out, !preempt, not
				 * TASK_RUNNING) while in_g */
	__u64 unblocks;		/* B: switch-ins after such a block
				 * (advisory: see sact_sched.bpf.c) */
	__u64 preempts;		/* B: switch-outs while runnable (preempted,
				 * or rescheduled on the way to user space) */
	__u64 handoffs;		/* B: blocks that handed its P off */
	__u64 idle_blocks;	/* B: blocks while !in_g (runtime's own waits) */
	__u64 lost;		/* B: raw syscall returns to G code after its
				 * P went to another M (each signalled) */
	__u32 lost_pending;	/* A: 1 from the program's lost_sig until
				 * the handler starts (plain stores by both:
				 * the program sets it, the M clears it): one
				 * signal at a time, not one per sys_exit */
	__u32 pad32;
} __attribute__((aligned(64)));

/* Totals; each a fetch_add by the program (A), read by user space. */
struct sact_bpf_stats {
	__u64 switches;		/* sched_switch events whose prev was ours */
	__u64 blocks;		/* sum of m[].blocks */
	__u64 unblocks;		/* sum of m[].unblocks */
	__u64 handoffs;		/* P words moved OWNED -> HANDOFF */
	__u64 handoff_races;	/* CAS lost to a concurrent user-space change */
	__u64 upcalls;		/* events committed to a ring */
	__u64 ring_fail;	/* handoffs whose event could not be published
				 * (ring full or missing): the P is HANDOFF,
				 * nobody was woken */
	__u64 stale_blocks;	/* blocks in G code of an M whose P had gone
				 * to another M: nothing to hand off (an M
				 * running G code without a P: the window) */
	__u64 reclaims;		/* raw returns that took their HANDOFF P
				 * back before a standby claimed it */
	__u64 lost;		/* raw returns whose P another M had: the M
				 * was sent lost_sig (sum of m[].lost) */
	__u64 pad[5];
} __attribute__((aligned(64)));

struct sact_bpf_shared {
	struct sact_bpf_stats stats;
	struct sact_bpf_p p[SACT_BPF_MAX_P];
};

#endif /* SACT_SCHED_H */
