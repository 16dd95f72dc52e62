/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bpf_backend.h - the bpf backend's mechanism, internal to libsact: load the
 * sched_switch program, register Ms, move Ps, wait for handoffs.
 *
 * It knows nothing of Gs or run queues: the scheduler (userspace/lib) calls
 * it at a few points (see "Use by the scheduler" below).  All symbols are
 * hidden (libsact builds with -fvisibility=hidden) and prefixed sact_bpf_.
 * Errors are -errno.  The protocol and the design are at the top of
 * bpf_backend.c; the shared layout is userspace/bpf/sact_sched.h.
 *
 * Use by the scheduler:
 *
 *   sact_run:        sact_bpf_open(&opts, &b, why, sizeof(why))
 *                    (on failure print `why` only if SACT_DEBUG=1)
 *   every new M:     slot = sact_bpf_register(b); m = sact_bpf_mslot(b, slot)
 *   M takes a P:     sact_bpf_p_acquire(b, p, slot) == 0, then run Gs with
 *                    sact_bpf_set_in_g(m, true) around G code
 *   after a syscall: sact_bpf_p_keep(b, p, slot) < 0  =>  the P is gone:
 *   (exitsyscall)    queue the G, become a standby
 *   M lets a P go:   sact_bpf_p_release(b, p, slot)
 *   standby:         p = sact_bpf_wait(b, slot, p_or_-1, timeout, NULL)
 *   RING_FUTEX only: one thread loops on sact_bpf_relay(b, timeout)
 *   sact_run ends:   sact_bpf_stop(b); join waiters; unregister; close
 */
#ifndef SACT_BPF_BACKEND_H
#define SACT_BPF_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

#include "../bpf/sact_sched.h"

struct sact_bpf;

struct sact_bpf_opts {
	size_t size;		/* sizeof(struct sact_bpf_opts) */
	int nprocs;		/* Ps, 1..SACT_BPF_MAX_P */
	int wake;		/* SACT_BPF_WAKE_RING_PER_P (0, default) or
				 * SACT_BPF_WAKE_RING_FUTEX */
	pid_t tgid;		/* process whose threads are watched; 0: ours */
	int lost_sig;		/* signal sent to an M that returns from a raw
				 * syscall to G code after its P went to
				 * another M (the caller handles it); 0: none,
				 * and the sys_exit program is not attached */
	int mmax;		/* M slots: the most Ms registered at once;
				 * 0: SACT_BPF_MMAX_DEFAULT, at most
				 * SACT_BPF_MMAX_LIMIT.  Sizes the maps
				 * m_slots and m_state at load */
};

/*
 * Open, configure, load and attach the program; map the shared state.
 * All Ps start IDLE.  On failure *bp is NULL, and @why (if not NULL) gets a
 * one-line reason.  Return: 0, -EPERM (no privilege: needs root, i.e.
 * CAP_BPF + CAP_PERFMON), -EOPNOTSUPP (kernel without BTF or BPF), -EINVAL
 * (bad opts), -ENOMEM, or another -errno from libbpf.
 */
int sact_bpf_open(const struct sact_bpf_opts *opts, struct sact_bpf **bp,
		  char *why, size_t whylen);

/*
 * Make every sact_bpf_wait() and sact_bpf_relay() in progress or to come
 * return -ECANCELED.  Idempotent; any thread.
 */
void sact_bpf_stop(struct sact_bpf *b);

/*
 * Detach and unload the program, unmap and free everything.  No thread may
 * be inside any sact_bpf_* call on @b (stop and join them first).  NULL ok.
 */
void sact_bpf_close(struct sact_bpf *b);

/*
 * Give the calling thread (sact_bpf_register) or thread @tid an M slot:
 * from now on its switches are watched.  Its P is none, in_g false, its
 * per-M counters zero.  Return: the slot (>= 0), -ENOSPC (all
 * mmax in use), -EEXIST (already registered).
 */
int sact_bpf_register(struct sact_bpf *b);
int sact_bpf_register_tid(struct sact_bpf *b, pid_t tid);

/* Stop watching slot @slot's thread and free the slot.  0 or -EINVAL. */
int sact_bpf_unregister(struct sact_bpf *b, int slot);

/* The shared state (stats, P words, M slots), mapped; valid until close. */
struct sact_bpf_shared *sact_bpf_shared(struct sact_bpf *b);

/* Slot @slot's shared words (NULL if out of range). */
struct sact_bpf_m *sact_bpf_mslot(struct sact_bpf *b, int slot);

/*
 * Publish whether the M runs G code: only a block while in_g hands its P
 * off.  Must be called by the M itself (the program sees its own thread's
 * stores in program order).
 */
static inline void sact_bpf_set_in_g(struct sact_bpf_m *m, bool in_g)
{
	__atomic_store_n(&m->in_g, in_g, __ATOMIC_RELAXED);
	/* Keep the compiler from sinking the store past a following syscall. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/*
 * P ownership: every call is one CAS on the P word (sact_sched.h), so the
 * callers and the program agree on exactly one owner.  @slot is the caller's
 * M slot; the caller must be that M (it publishes m->p).
 *
 * sact_bpf_p_acquire: IDLE or HANDOFF -> OWNED(slot).  0 (it was IDLE), 1
 *                     (it was HANDOFF: taken from a blocked M), or -EBUSY.
 * sact_bpf_p_keep:    after a syscall, by the M that held @p: 0 if it still
 *                     owns it (no handoff), 1 if it was handed off but not
 *                     yet taken and the M took it back, -EAGAIN if another
 *                     M has it (m->p is cleared: the caller has no P).
 * sact_bpf_p_release: OWNED(slot) -> IDLE.  0, or -EPERM (not the owner).
 * sact_bpf_p_claim:   HANDOFF -> OWNED(slot), as a standby woken by the
 *                     handoff's event would (step 3): 0, or -EBUSY (not
 *                     HANDOFF: kept, claimed by another, idle).
 */
int sact_bpf_p_acquire(struct sact_bpf *b, int p, int slot);
int sact_bpf_p_claim(struct sact_bpf *b, int p, int slot);
int sact_bpf_p_keep(struct sact_bpf *b, int p, int slot);
int sact_bpf_p_release(struct sact_bpf *b, int p, int slot);

/*
 * Standby: sleep until a P is handed to the caller, take it (as
 * sact_bpf_p_acquire would) and return its index.  RING_PER_P: @p is the P
 * this standby stands by for; one waiter per P at a time (-EBUSY); a P
 * already in HANDOFF is taken at once.  RING_FUTEX: @p is ignored; the relay
 * (sact_bpf_relay) picks the standby.  Handoffs the old owner took back in
 * the meantime are skipped silently.  @timeout_ms < 0: no timeout.  @ev, if
 * not NULL, gets the event of the handoff taken.
 * Return: the P (>= 0), -ETIMEDOUT, -ECANCELED (sact_bpf_stop), -EBUSY,
 * -EINVAL, -EINTR, or another -errno.
 */
int sact_bpf_wait(struct sact_bpf *b, int slot, int p, int timeout_ms,
		  struct sact_bpf_event *ev);

/*
 * RING_FUTEX only: wait up to @timeout_ms for handoff events and futex-wake
 * one parked standby per live event (a P nobody waits for stays HANDOFF for
 * the next M that looks for work).  One thread at a time.
 * Return: events dispatched (>= 0), -ECANCELED, -EINVAL (RING_PER_P), -errno.
 */
int sact_bpf_relay(struct sact_bpf *b, int timeout_ms);

/* The id of the loaded program (for tests: gone after close). */
__u32 sact_bpf_prog_id(struct sact_bpf *b);

#endif /* SACT_BPF_BACKEND_H */
