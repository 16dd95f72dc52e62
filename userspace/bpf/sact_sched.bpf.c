// SPDX-License-Identifier: GPL-2.0
/*
 * sact_sched.bpf.c - the bpf backend's kernel half: notice the moment a
 * worker thread (M) of one process blocks in the kernel while it holds a P
 * and runs G code, take the P from it, and wake a standby M.
 *
 * One program on tp_btf/sched_switch.  It runs in __schedule() with the rq
 * lock held and irqs off, current == prev.  For every switch:
 *
 *   1. prev (and next) are filtered by tgid (rodata sact_tgid): one compare
 *      for every task that is not ours.
 *   2. Ours: the preallocated hash m_slots maps the thread's tid to its M
 *      slot (lookups only here; user space inserts/deletes at register).
 *   3. prev blocks iff !preempt && prev->__state != TASK_RUNNING (and it is
 *      not exiting).  A preempted task is still runnable: no event.
 *   4. A block of an M that publishes in_g and a P it owns moves the P word
 *      OWNED(m) -> HANDOFF(m) with one CAS (user space may be changing the
 *      word at the same moment: the CAS makes the two agree on one owner;
 *      the numbered protocol is in userspace/lib/bpf_backend.c), then
 *      commits an event to a ring buffer.  The ring's commit is the only
 *      wakeup a program may cause: it defers the wake_up to irq_work, which
 *      runs right after this switch when irqs come back on.
 *   5. next: a switch-in of an M that had blocked clears its blocked flag
 *      and counts an unblock.
 *   6. A second program, on tp_btf/sys_exit (attached only when user space
 *      sets lost_sig), sees the M come back: if its P went to another M,
 *      it signals the thread before it runs G code again (sact_sys_exit).
 *
 * Wake designs (rodata wake_mode), both built in so they can be measured
 * side by side (userspace/bench/bpf_handoff.c):
 *   RING_PER_P  p_rings[p] (array of ring buffers): the P's own standby
 *               sleeps in epoll on it; one hop, irq_work -> standby.
 *   RING_FUTEX  one ring `events`: a relay thread sleeps on it and
 *               futex-wakes a standby; two hops.
 * The backend's default is RING_PER_P: it is the faster one (one wakeup
 * fewer on the handoff path; see the figures in bpf_backend.c).
 *
 * Races accepted: the program reads the M's published words (p, in_g)
 * without synchronisation with the M's own stores, but those stores are
 * made by the same thread before it enters the kernel, so the program
 * always sees its latest values.  Counters in struct sact_bpf_stats are
 * fetch_adds; per-M ones have a single writer (this program, for that task).
 * The unblock count is advisory: the 6.18 host sometimes runs a task
 * again without a sched_switch that names it as next (1-5 per 100k blocks
 * in selftests/bpf/stress; perf record -e sched:sched_switch shows the
 * same for kernel threads, with no event lost; never seen on 6.1), so
 * nothing may depend on `blocked`/`unblocks`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "sact_sched.h"

#define TASK_RUNNING	0
#define PF_EXITING	0x00000004

char LICENSE[] SEC("license") = "GPL";

/* Configuration, set by user space between open and load. */
const volatile __u32 sact_tgid;
const volatile __u32 nr_p = 1;
const volatile __u32 wake_mode = SACT_BPF_WAKE_RING_PER_P;
/* Signal for an M back in G code without its P (sys_exit); 0: none. */
const volatile __u32 lost_sig;

/* The state shared with user space (mmap-ed .bss). */
struct sact_bpf_shared shared;

/* Both sized by user space before the load: the cap on Ms (sact_sched.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);	/* preallocated */
	__uint(max_entries, 1);
	__type(key, __u32);			/* tid */
	__type(value, __u32);			/* M slot */
} m_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);			/* M slot */
	__type(value, struct sact_bpf_m);
} m_state SEC(".maps");

/* One ring per P; user space creates the rings and fills the array. */
struct sact_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SACT_BPF_MAX_P);
	__type(key, __u32);
	__array(values, struct sact_ring);
} p_rings SEC(".maps");

/* The single ring of RING_FUTEX. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __always_inline struct sact_bpf_m *slot_of(struct task_struct *t,
						  __u32 *slotp)
{
	__u32 tid = BPF_CORE_READ(t, pid);
	__u32 *slot = bpf_map_lookup_elem(&m_slots, &tid);

	if (!slot)
		return NULL;
	*slotp = *slot;
	return bpf_map_lookup_elem(&m_state, slot);	/* NULL past the end */
}

/* Publish a handoff of P @p; false if no ring took it. */
static __always_inline bool publish(__u32 p, __u32 slot, __u32 seq)
{
	struct sact_bpf_event *e;
	void *ring = &events;

	if (wake_mode == SACT_BPF_WAKE_RING_PER_P) {
		ring = bpf_map_lookup_elem(&p_rings, &p);
		if (!ring)
			return false;
	}
	e = bpf_ringbuf_reserve(ring, sizeof(*e), 0);
	if (!e)
		return false;
	e->p = p;
	e->from_m = slot;
	e->seq = seq;
	e->cpu = bpf_get_smp_processor_id();
	e->ts_ns = bpf_ktime_get_ns();
	/* The wakeup is deferred to irq_work: allowed under the rq lock. */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return true;
}

static __always_inline void on_block(struct sact_bpf_m *m, __u32 slot)
{
	struct sact_bpf_p *pp;
	__u64 old, new;
	__u32 p;

	if (!m->in_g) {
		m->idle_blocks++;
		return;
	}
	m->blocked = 1;
	m->blocks++;
	__sync_fetch_and_add(&shared.stats.blocks, 1);

	p = m->p;
	if (!p || p > nr_p)
		return;
	/* The mask is for the verifier (a power of two, see sact_sched.h). */
	p = (p - 1) & (SACT_BPF_MAX_P - 1);
	pp = &shared.p[p];
	old = pp->own;
	if (SACT_BPF_OWN_STATE(old) != SACT_BPF_P_OWNED ||
	    SACT_BPF_OWN_OWNER(old) != slot) {
		/* already taken from it: nothing to hand off.  The M runs G
		 * code without its P (a page fault's return, or no lost_sig):
		 * counted, since it breaks "at most nprocs Ms run G code" */
		__sync_fetch_and_add(&shared.stats.stale_blocks, 1);
		return;
	}
	new = SACT_BPF_OWN(SACT_BPF_OWN_SEQ(old) + 1, SACT_BPF_P_HANDOFF, slot);
	if (__sync_val_compare_and_swap(&pp->own, old, new) != old) {
		/* User space changed the word since our read: it wins. */
		__sync_fetch_and_add(&shared.stats.handoff_races, 1);
		return;
	}
	m->handoffs++;
	pp->handoffs++;
	__sync_fetch_and_add(&shared.stats.handoffs, 1);
	if (publish(p, slot, SACT_BPF_OWN_SEQ(new)))
		__sync_fetch_and_add(&shared.stats.upcalls, 1);
	else
		__sync_fetch_and_add(&shared.stats.ring_fail, 1);
}

/*
 * The return half (6.): a raw syscall of G code returns to user space.  If
 * the block in it handed the P off, the M must not run G code on: the
 * kernel will not stop it (no strict mode from BPF), so
 *   - HANDOFF(m), nobody claimed it yet: take it back here (the standby's
 *     claim then fails), one CAS, no trip through user space;
 *   - another M owns it: send the thread lost_sig.  The runtime's handler
 *     runs before the next instruction of G code and waits there for a P
 *     (bpf_sched.c, "Coming back").
 * Runs in process context on the returning thread, irqs on: the signal is
 * queued at once and delivered on this very return.  The syscall is over,
 * so nothing is interrupted or restarted.  Wrapped calls (IN_G_WRAPPED)
 * are left to the wrapper's own check.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(sact_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct sact_bpf_p *pp;
	struct sact_bpf_m *m;
	__u64 old, new;
	__u32 slot, p;

	if (t->tgid != sact_tgid || !lost_sig)
		return 0;
	m = slot_of(t, &slot);
	if (!m || m->in_g != SACT_BPF_IN_G_RAW)
		return 0;
	p = m->p;
	if (!p || p > nr_p)
		return 0;
	pp = &shared.p[(p - 1) & (SACT_BPF_MAX_P - 1)];
	old = pp->own;
	if (SACT_BPF_OWN_OWNER(old) == slot) {
		if (SACT_BPF_OWN_STATE(old) == SACT_BPF_P_OWNED)
			return 0;	/* the common case: kept */
		new = SACT_BPF_OWN(SACT_BPF_OWN_SEQ(old) + 1,
				   SACT_BPF_P_OWNED, slot);
		if (SACT_BPF_OWN_STATE(old) == SACT_BPF_P_HANDOFF &&
		    __sync_val_compare_and_swap(&pp->own, old, new) == old) {
			__sync_fetch_and_add(&shared.stats.reclaims, 1);
			return 0;
		}
	}
	/*
	 * One at a time: until the handler runs, every syscall exit of the
	 * thread comes here again - its own rt_sigreturn included, should
	 * the handler be put off (TSan defers it to its next interceptor),
	 * or a loop of signals would never let the thread reach it.
	 */
	if (m->lost_pending)
		return 0;
	if (bpf_send_signal_thread(lost_sig))
		return 0;	/* no room in the signal queue: next exit */
	m->lost_pending = 1;
	m->lost++;
	__sync_fetch_and_add(&shared.stats.lost, 1);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sact_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	struct sact_bpf_m *m;
	__u32 slot;

	if (BPF_CORE_READ(prev, tgid) == sact_tgid) {
		m = slot_of(prev, &slot);
		if (m) {
			__sync_fetch_and_add(&shared.stats.switches, 1);
			if (preempt ||
			    BPF_CORE_READ(prev, __state) == TASK_RUNNING)
				m->preempts++;
			else if (!(BPF_CORE_READ(prev, flags) & PF_EXITING))
				on_block(m, slot);
		}
	}
	if (BPF_CORE_READ(next, tgid) == sact_tgid) {
		m = slot_of(next, &slot);
		if (m && m->blocked) {
			m->blocked = 0;
			m->unblocks++;
			__sync_fetch_and_add(&shared.stats.unblocks, 1);
		}
	}
	return 0;
}
