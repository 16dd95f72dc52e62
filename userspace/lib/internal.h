/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * internal.h - libsact's private types: G, M, P, the scheduler, the
 * context-switch frame, internal locks, and the backend interface.
 *
 * The design essay is at the top of proc.c.  This header only says what
 * each field is, who writes it and who reads it:
 *
 *	I:  set at creation, read-only afterwards
 *	O:  owner only (the M that holds the P, or the G itself)
 *	A:  atomic; the comment says which order pairs with what
 *	L:  sched.lock
 *	T:  the P's timerlock
 *	Q:  the lock of the wait queue the G is on
 */
#ifndef SACT_INTERNAL_H
#define SACT_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <sact.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#define SACT_API __attribute__((visibility("default")))

/*
 * TSan: m goes (back) to G code holding pp.  From here a block can hand pp
 * to a standby through a CAS that only the kernel (bpf program, module)
 * makes, which TSan does not see; the takeover's p_handoff_acquire pairs
 * with this, ordering the old owner's writes to pp before the new one's.
 */
static inline void p_handoff_release(const void *pp)
{
#if defined(__SANITIZE_THREAD__)
	__tsan_release((void *)pp);
#else
	(void)pp;
#endif
}
static inline void p_handoff_acquire(const void *pp)
{
#if defined(__SANITIZE_THREAD__)
	__tsan_acquire((void *)pp);
#else
	(void)pp;
#endif
}

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define RELAXED	memory_order_relaxed
#define ACQUIRE	memory_order_acquire
#define RELEASE	memory_order_release
#define SEQCST	memory_order_seq_cst

#define ld(p)		atomic_load_explicit((p), RELAXED)
#define st(p, v)	atomic_store_explicit((p), (v), RELAXED)
#define ld_acq(p)	atomic_load_explicit((p), ACQUIRE)
#define st_rel(p, v)	atomic_store_explicit((p), (v), RELEASE)

/* Counters with a single writer: plain load+store, no locked instruction. */
#define stat_inc(p)	st((p), ld(p) + 1)

/* A broken invariant: print the fixed message and abort (Go's throw). */
__attribute__((noreturn, cold)) void sact_throw(const char *msg);
#define throw(msg)	sact_throw(msg)

/* ---- the context-switch frame (see arch/x86_64/switch.S) ---------------- */

struct ctx_frame {
	uint32_t mxcsr;
	uint16_t fpucw;
	uint16_t pad;
	uint64_t r15, r14, r13, r12, rbx, rbp;
	void *ret;
};
_Static_assert(offsetof(struct ctx_frame, mxcsr) == 0, "switch.S frame");
_Static_assert(offsetof(struct ctx_frame, fpucw) == 4, "switch.S frame");
_Static_assert(offsetof(struct ctx_frame, r15) == 8, "switch.S frame");
_Static_assert(offsetof(struct ctx_frame, r14) == 16, "switch.S frame");
_Static_assert(offsetof(struct ctx_frame, r13) == 24, "switch.S frame");
_Static_assert(offsetof(struct ctx_frame, r12) == 32, "switch.S frame");
_Static_assert(offsetof(struct ctx_frame, rbx) == 40, "switch.S frame");
_Static_assert(offsetof(struct ctx_frame, rbp) == 48, "switch.S frame");
_Static_assert(offsetof(struct ctx_frame, ret) == 56, "switch.S frame");
_Static_assert(sizeof(struct ctx_frame) == 64, "switch.S frame");

void sact_ctx_switch(void **save_sp, void *load_sp);
void sact_gstart(void);

/* ---- futexes and the internal lock --------------------------------------- */

/* Wait while *addr == val, at most timeout_ns (<0: forever). */
void futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns);
void futex_wake(_Atomic uint32_t *addr, int n);

/*
 * A short-term lock between Ms (Drepper's three-state futex mutex: 0 free,
 * 1 held, 2 held with sleepers).  Never held across a blocking call; may
 * be released by another context than the one that took it (gopark hands
 * a held queue lock to the post-switch step).
 */
struct lock {
	_Atomic uint32_t v;
};
void lock_acquire(struct lock *l);
void lock_release(struct lock *l);

int64_t nanotime(void);

/* ---- G -------------------------------------------------------------------- */

/*
 * G statuses.  Each says who owns the G (may touch its sp and schedlink).
 */
enum gstatus {
	G_IDLE,		/* on a free list; owns its stack, nothing else */
	G_RUNNABLE,	/* on a run queue; no M; the queue owns it */
	G_RUNNING,	/* an M with a P runs it; that M owns it */
	G_SYSCALL,	/* in the kernel; its M owns it, the P may be gone */
	G_WAITING,	/* parked; the wait queue or timer that will ready it
			 * owns it (through g->claim) */
	G_DEAD,		/* exited; the M that switches away frees it */
};

struct p;
struct m;

struct g {
	void *sp;			/* O: saved stack pointer */
	struct g *schedlink;		/* global run queue, free lists */
	void (*fn)(void *);		/* O: entry and argument */
	void *arg;
	struct m *m;			/* O: the M running it, if running */
	_Atomic int status;		/* A: enum gstatus (relaxed; debug) */
	/*
	 * A: 0 while parked; whoever moves it 0 -> CLAIM_WOKEN (a waker,
	 * under the queue's lock) or 0 -> CLAIM_TIMEOUT (the timer, under
	 * the P's timerlock) owns the wakeup and must goready() the G.
	 */
	_Atomic int claim;
	int64_t when;			/* T: timer deadline */
	int timer_idx;			/* T: index in timer_p's heap, -1 */
	struct p *timer_p;		/* T: the heap the timer is in */
	char *stack_lo;			/* I: lowest usable stack byte */
	char *stack_hi;			/* I: top of the stack (g is above) */
	bool guarded;			/* I: a PROT_NONE page below stack_lo */
	uint64_t goid;			/* O: for debugging */
	/*
	 * A plain thread (not an M) that waits in a sact primitive is
	 * represented by a G of its own (threadg in proc.c): ext is set,
	 * it has no stack, and gopark sleeps on extwake (A: goready sets it
	 * to 1 and wakes the thread) instead of switching.
	 */
	bool ext;			/* I */
	_Atomic uint32_t extwake;
	uint64_t ring_timeout;		/* O: next ring op's limit (uring.c) */
	/* sact_lock_thread: the M this G is wired to, and the nesting */
	struct m *lockedm;		/* O */
	int lockcount;			/* O */
#if defined(__SANITIZE_ADDRESS__)
	void *asan_fake;		/* ASan's fake stack while switched out */
#endif
#if defined(__SANITIZE_THREAD__)
	void *tsan_fiber;		/* TSan's context for this stack */
#endif
};

/* at stack_lo of a G without a guard page (stack.c) */
#define STACK_CANARY	0x5ac7ca9a12e5ac75ULL

#define CLAIM_WOKEN	1
#define CLAIM_TIMEOUT	2

/* ---- P -------------------------------------------------------------------- */

enum pstatus {
	P_IDLE,		/* on sched.pidle (or being handed to an M) */
	P_RUNNING,	/* owned by an M running Gs */
	P_SYSCALL,	/* its M is in a syscall; anyone may CAS it away */
};

#define RUNQ_SIZE	256
#define GFREE_MAX	64
#define STACK_CACHE_DEFAULT 1024	/* sact_config.stack_cache */

struct p {
	int id;					/* I */
	_Atomic int status;			/* A: enum pstatus */
	struct m *m;				/* O: the owner, informative */
	struct p *link;				/* L: sched.pidle */
	_Atomic uint32_t schedtick;		/* A: owner++ (schedules run),
						 * sysmon reads */
	uint32_t runnext_chain;			/* O: runnext picks in a row */
	_Atomic uint32_t syscalltick;		/* A: owner++, sysmon reads */
	uint32_t sysmon_tick;			/* sysmon only */
	int64_t sysmon_when;			/* sysmon only */
	uint32_t sysmon_schedtick;		/* sysmon only */
	int64_t sysmon_schedwhen;		/* sysmon only */
	/* A: the M that last went to G code holding this P (m_back_to_g,
	 * with sched_watch_gcode); may be stale: m->gcode is the truth */
	_Atomic(struct m *) gm;
	uint64_t rand;				/* O: fastrand state */
	uint64_t goidnext, goidend;		/* O: a batch of G ids */

	/* free Gs with their stacks (O) */
	struct g *gfree;
	int ngfree;

	/* timers: a min-heap of parked Gs by g->when */
	struct lock timerlock;
	struct g **timers;			/* T */
	int ntimers, timercap;			/* T */
	_Atomic int64_t timer0;			/* A: earliest when, 0: none */

	/* io_uring (uring.c): the P's ring (I; NULL without one), whether
	 * it is on sched.pidle (L), the M waiting in its ring while it is
	 * idle (L; see the wake/idle protocol at the top of uring.c) */
	struct uring *ring;
	bool onidle;
	struct m *poller;
	/* L: startm idled it with work for lack of an M (timers, ring ops
	 * in flight): the next M in stopm takes it (pidleget_work) */
	bool wantm;

	/*
	 * The local run queue (see runqput in proc.c).  head: A, CASed by
	 * consumers (owner and thieves); tail: A, written by the owner only.
	 */
	_Atomic uint32_t runqhead __attribute__((aligned(64)));
	_Atomic uint32_t runqtail __attribute__((aligned(64)));
	_Atomic(struct g *) runnext;		/* A: owner xchg, thief CAS */
	_Atomic(struct g *) runq[RUNQ_SIZE];
} __attribute__((aligned(64)));

/* ---- M -------------------------------------------------------------------- */

#define SACT_SELECT_MAX	64	/* cases of one sact_chan_select */

/* What the context switched to must do for the one switched from. */
enum after {
	AFTER_NONE,
	AFTER_RUNQPUT,		/* yield: put it on this P's queue */
	AFTER_PARK,		/* gopark: add its timer, release its lock */
	AFTER_EXIT,		/* goexit: free it */
	AFTER_GLOBRUNQ,		/* exitsyscall without P: global queue */
	AFTER_HANDOFF,		/* yield to an M waiting for a P: global
				 * queue, then give the P away */
};

struct m_stats {
	_Atomic uint64_t switches, parks, steals, syscalls, spawned;
	_Atomic uint64_t idle_spins;	/* spinning, found nothing */
};

struct m {
	int id;					/* I: index in sched.allm */
	pthread_t thread;			/* I */
	bool elastic;				/* I: created by the template
						 * thread, not by sact_run */
	bool retiring;				/* L: idle too long; exits */
	bool mayretire;				/* O: parked as a surplus M */
	bool coming;				/* L: counted in nmcoming */
	int wakefd;				/* O: uring's eventfd, or -1 */
	/* A: ring ops it submitted whose CQE is not reaped yet (uring.c):
	 * while any is, the M may not exit */
	_Atomic uint32_t ring_ops;
	pid_t tid;				/* I: the thread's id */
	void *altstack;				/* O: its signal stack */
	/*
	 * A, with sched_watch_gcode (sysmon): GCODE(p) while the M runs G
	 * code holding P p (set by the M in m_back_to_g), 0 in the runtime
	 * (the M's xchg at every entry, m_resync), GCODE_TAKEN once sysmon
	 * took its P (CAS GCODE(p) -> GCODE_TAKEN, only while the M sleeps
	 * in the kernel): the xchg tells the M, which then has no P.
	 */
	_Atomic uint32_t gcode;
	struct g g0;				/* I: the thread's own stack */
	struct g *curg;				/* O: the G running (or &g0) */
	struct p *p;				/* O: the P held, or NULL */
	struct p *oldp;				/* O: P left in entersyscall */
	struct p *nextp;			/* L: P handed by startm */
	struct m *link;				/* L: sched.midle */
	_Atomic uint32_t park;			/* A: futex; 1 = go */
	bool spinning;				/* O */
	bool on_midle;				/* L */
	struct p *pollp;			/* L: idle P whose ring it waits in */
	/*
	 * sact_lock_thread: the G wired to this M (O), and the handover of
	 * it: a picker stores lockedp (the P it gives up), then lockwake = 1
	 * (A: futex) and wakes the M asleep in stoplockedm.
	 */
	struct g *lockedg;
	struct p *lockedp;
	_Atomic uint32_t lockwake;
	/* the post-switch step (O: set before, done right after a switch) */
	enum after after;
	struct g *after_g;
	struct lock *after_lock;
	/* AFTER_PARK with several locks (select): copied here, off the G's
	 * stack, since the G may run again once the first is released */
	struct lock *after_locks[SACT_SELECT_MAX];
	int after_nlocks;
	struct m_stats st;			/* O writes, anyone reads */
	uint64_t rand;
	/*
	 * kmod backend (kmod_backend.c): this M's slot in the module's shared
	 * page (NULL with other backends), the slot's unblock count when the
	 * M last checked its P (O), whether it is parked in
	 * SACT_IOC_STANDBY idle (L) or, not strict, with a G that waits for
	 * a P (L), and the slot's standby_seq when it went to wait there
	 * (L).  Whether a block cost it its P is the slot's kstate: the
	 * module's word, not the runtime's.
	 */
	struct sact_mslot *ks;			/* I */
	uint32_t kseen;				/* O */
	bool in_kstandby;			/* L */
	bool kwaitg;				/* L */
	uint32_t kseq;				/* L */
	uint32_t kidle_scan;			/* L: kmod_p_idle's look */
	/*
	 * bpf backend (bpf_sched.c): this M's slot in the program's shared
	 * map and two of its words there, NULL with other backends: in_g
	 * (written by the M only: "a block now hands my P off") and the
	 * program's count of this M's handoffs; bseen (O) is that count when
	 * the M last checked that it still owns its P.
	 */
	int bslot;				/* I */
	uint32_t *bin_g;			/* I */
	const uint64_t *bhand;			/* I */
	uint64_t bseen;				/* O */
#if defined(__SANITIZE_ADDRESS__)
	const void *g0_bottom;
	size_t g0_size;
#endif
} __attribute__((aligned(64)));

/* ---- backends ------------------------------------------------------------- */

/*
 * struct backend_ops - how a backend learns that an M blocks and hands its P
 * to a standby M.  One table per backend (sysmon.c has sysmon and none);
 * kmod_backend.c and bpf_sched.c have theirs.  Every hook may be NULL.
 *
 * @init:	at sact_run, before any M starts.  0 or -errno (-ENODEV: not
 *		available here; AUTO then tries the next backend).
 *		kmod: open /dev/sact, create the group, mmap the shared area.
 *		bpf: load and attach the program, map its state.
 * @fini:	after every M has exited.
 * @m_start:	on each M's thread, before it runs anything (kmod/bpf:
 *		register the thread as a worker).  0 or -errno.
 * @m_stop:	on each M's thread, before it exits.
 * @start:	after the Ms exist (sysmon: start the monitor thread).
 * @stop:	before the Ms are joined (sysmon: stop and join it).
 * @enter_syscall: after the P is marked P_SYSCALL (the hot path: keep it
 *		to a few stores; sysmon wakes the monitor if it sleeps).
 * @exit_syscall: after the call, before the P-ownership check.
 * @standby_wait: park the calling M (no P) until startm() sets m->park
 *		or timeout_ns passes (<0: forever).  Default: futex_wait on
 *		m->park.  kmod: wait in the module, which wakes it on a block
 *		upcall; strict mode also parks an M returning from the kernel
 *		whose P was handed off, here.
 * @standby_wake: the other half of standby_wait (default: futex_wake).
 *
 * The user-side check in exitsyscall (CAS P_SYSCALL -> P_RUNNING) stays
 * authoritative for every backend: whoever wins that CAS owns the P.
 */
struct backend_ops {
	enum sact_backend id;
	int (*init)(void);
	void (*fini)(void);
	int (*m_start)(struct m *m);
	void (*m_stop)(struct m *m);
	int (*start)(void);
	void (*stop)(void);
	void (*enter_syscall)(struct m *m, struct p *pp);
	void (*exit_syscall)(struct m *m, struct p *pp);
	void (*standby_wait)(struct m *m, int64_t timeout_ns);
	void (*standby_wake)(struct m *m);
	/*
	 * kmod and bpf (NULL elsewhere): keep the kernel side's P words in
	 * step with the runtime's view.
	 * @p_acquire:	m takes pp from the idle list (acquirep).
	 * @p_idle:	pp is about to go on the idle list (pidleput, sched.lock
	 *		held).  true: it was granted to an M waiting for a P
	 *		instead (pp is no longer the caller's; do not idle it).
	 * @park_standby: stopm with no timeout, before the idle list: park m
	 *		in the module as a standby.  1: m was handed a P (m->p
	 *		set), -1: the runtime exits, 0: not parked there (the
	 *		standby pool is full): park on the idle list as usual.
	 */
	void (*p_acquire)(struct m *m, struct p *pp);
	bool (*p_idle)(struct p *pp);
	/*
	 * @p_unidle:	pp comes off the idle list (sched.lock held): claim it
	 *		back from the kernel side.  false: the kernel gave it to
	 *		an M back from a block (kmod's strict unblock), whose
	 *		resync adopts it (and calls pidle_taken).
	 */
	bool (*p_unidle)(struct p *pp);
	/*
	 * @p_release:	m gives pp away other than through pidleput (to a
	 *		locked G's M, or to handoffp from a locked M): undo
	 *		p_acquire; the next holder's acquirep takes it.
	 */
	void (*p_release)(struct m *m, struct p *pp);
	int (*park_standby)(struct m *m);
	/*
	 * @standby_grant: startm found no M on the idle list (sched.lock
	 *		held): wake an M parked by park_standby with pp (off the
	 *		idle list) and spinning.  false: none is parked.
	 */
	bool (*standby_grant)(struct p *pp, bool spinning);
};

extern const struct backend_ops backend_sysmon, backend_none, backend_kmod,
	backend_bpf;

/* bpf: publish "a block of this thread hands its P off" (the program
 * reads it on this thread's own switch-out: program order suffices). */
static inline uint32_t bpf_in_g_swap(struct m *m, uint32_t in_g)
{
	uint32_t old = __atomic_load_n(m->bin_g, __ATOMIC_RELAXED);

	__atomic_store_n(m->bin_g, in_g, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return old;
}

/*
 * m_resync - did m block in G code, outside any wrapper, since it last
 * looked?  Then its P may have moved (one load of a counter the backend's
 * kernel side bumps; kmod: the slot's unblock count, bpf: the program's
 * handoff count):
 *  - kmod: adopt the P the module now gives m (strict mode: m always holds
 *    one when it runs; kmod_backend.c step 6);
 *  - bpf: keep m's P if nobody took it, else take an idle P, else queue
 *    the running G on the global run queue and make m a standby.  The G
 *    resumes later, maybe on another M (bpf_sched.c "Coming back").
 * Returns the M the caller runs on afterwards.  Called where the runtime
 * is entered from G code (getm) and in goexit, holding no runtime lock.
 */
/* I: keep m->gcode and p->gm (set by sysmon's init) */
extern bool sched_watch_gcode;
#define GCODE(pp)	(((uint32_t)(pp)->id << 2) | 1)
#define GCODE_TAKEN	2u

struct m *m_lost_p(struct m *m);
struct sact_mslot;
void kmod_resync(struct m *m);
uint32_t kmod_unblocks(const struct sact_mslot *ks);
uint32_t kmod_state_swap(struct sact_mslot *ks, uint32_t state);
void kmod_publish(struct m *m, bool in_g);
bool kmod_p_wanted(void);
struct m *bpf_resync(struct m *m);
bool bpf_p_wanted(void);
static inline struct m *m_resync(struct m *m)
{
	if (__builtin_expect(m == NULL, 0))
		return m;
	if (__builtin_expect(m->ks != NULL, 0)) {
		if (kmod_unblocks(m->ks) != m->kseen)
			kmod_resync(m);
		/* in the runtime now, as for bpf below */
		kmod_state_swap(m->ks, 0);	/* SACT_M_IDLE */
	} else if (__builtin_expect(m->bhand != NULL, 0)) {
		if (__atomic_load_n(m->bhand, __ATOMIC_RELAXED) != m->bseen)
			m = bpf_resync(m);
		/* in the runtime now: a block here (a fault on a fresh stack
		 * page) must not hand the P off under its bookkeeping */
		bpf_in_g_swap(m, 0);
	} else if (__builtin_expect(sched_watch_gcode, 0)) {
		/* pairs with sysmon's CAS: either it took the P while m was
		 * in G code, or it sees 0 and leaves the P alone */
		if (atomic_exchange_explicit(&m->gcode, 0, ACQUIRE) ==
		    GCODE_TAKEN)
			m = m_lost_p(m);
	}
	return m;
}

/*
 * kmod, bpf: m goes back to G code (after a switch, or from a runtime call
 * that did not switch: back_to_g): a block from here on hands its P off.
 */
static inline void m_back_to_g(struct m *m)
{
	if (__builtin_expect(m->ks != NULL, 0) && m->curg != &m->g0 && m->p)
		kmod_publish(m, true);
	else if (__builtin_expect(m->bin_g != NULL, 0) && m->curg != &m->g0 &&
	    m->p) {
		p_handoff_release(m->p);
		bpf_in_g_swap(m, 1);
	} else if (__builtin_expect(sched_watch_gcode, 0) &&
		   m->curg != &m->g0 && m->p) {
		st_rel(&m->p->gm, m);
		st_rel(&m->gcode, GCODE(m->p));
	}
}

/*
 * kmod and bpf: around the runtime's own blocking calls on a G stack (a
 * contended lock's futex, mmap of stacks), say "not running G code" so the
 * backend does not hand the P off in the middle of the runtime's
 * bookkeeping.  Returns the previous state for m_kblock_end.
 */
static inline uint32_t m_kblock_begin(struct m *m)
{
	if (__builtin_expect(m != NULL && m->ks != NULL, 0))
		return kmod_state_swap(m->ks, 0);
	if (__builtin_expect(m != NULL && m->bin_g != NULL, 0))
		return bpf_in_g_swap(m, 0);
	return 0;
}
static inline void m_kblock_end(struct m *m, uint32_t old)
{
	if (__builtin_expect(old != 0, 0)) {
		if (m->ks) {
			kmod_state_swap(m->ks, old);
		} else {
			p_handoff_release(m->p);	/* as m_back_to_g */
			bpf_in_g_swap(m, old);
		}
	}
}
/* Why the last backend init failed (one line, for SACT_DEBUG=1), or "". */
extern char backend_why[160];
const struct backend_ops *backend_select(enum sact_backend b, int *err);
const struct backend_ops *backend_next(const struct backend_ops *ops);
void backend_say(const struct backend_ops *ops, int err);
bool backend_debug(void);

/* ---- the scheduler ------------------------------------------------------ */

struct slab;

struct sched {
	struct lock lock;
	/* global run queue (L) */
	struct g *runqhead, *runqtail;
	_Atomic int runqsize;			/* L writes, anyone peeks */
	/* idle Ps and Ms (L) */
	struct p *pidle;
	_Atomic int npidle;			/* L writes, A reads */
	struct m *midle;
	int nmidle;
	_Atomic int nmspinning;			/* A, seq_cst: see proc.c */

	int nprocs;				/* I */
	int ncpu;				/* I: CPUs the process may run on */
	struct p *allp;				/* I */
	/*
	 * Ms (see "Elastic Ms" in proc.c).  allm has mmax slots; a slot is
	 * NULL when free (its M retired and was joined); nm is one past the
	 * highest slot ever used (iterate i < nm, skip NULL).
	 */
	struct m **allm;			/* I: the array; L: its slots */
	int nm;					/* L (racy reads: a bound) */
	int nmalive;				/* L: Ms created, not retired */
	int nmlocked;				/* L: Ms asleep in stoplockedm
						 * (idle to checkdead) */
	_Atomic int nmcoming;			/* L (read racily by
						 * schedule_loop): Ms on their
						 * way to stopm (new, or sent
						 * to stand by): idle for the
						 * reserve */
	int mkeep;				/* I: nprocs + standby: never
						 * retire */
	int mmax;				/* I: cap on Ms (max_threads) */
	int mlow;				/* I: low-water mark of idle Ms */
	int64_t midle_ns;			/* I: a surplus M idle this long
						 * retires */
	int mwant;				/* L: Ps that found no M
						 * (startm), less the Ms made
						 * for them */
	int mwant_spin;				/* L: wakeps among them: the
						 * next Ms in stopm spin (each
						 * counted in nmspinning) */
	bool mcap_said;				/* L: the cap's debug line */
	struct m *mdead;			/* L: retired, to be joined */
	int nmdying;				/* L: retired, not yet joined */
	struct m_stats st_retired;		/* L: counters of retired Ms */
	uint64_t ms_created, ms_retired;	/* L */
	int ms_peak;				/* L */
	_Atomic uint32_t mtemplate_wake;	/* A: futex of the template */
	pthread_t mtemplate;			/* I */

	_Atomic int64_t ngs;			/* A: live Gs */
	_Atomic int64_t ngs_peak;		/* A */
	_Atomic uint32_t started;		/* A: futex, all threads exist */
	_Atomic uint32_t done;			/* A: futex, ngs reached 0 */
	_Atomic int exiting;			/* A, set under L */
	bool shuffle;				/* I: randomized order */

	const struct backend_ops *ops;		/* I */
	size_t stack_size;			/* I: per G, incl. its struct g */
	size_t m_stack;				/* I: an M's own (pthread) */
	bool stack_check;			/* I: SACT_STACK_CHECK */
	_Atomic size_t stack_used;		/* A: deepest, if stack_check */

	/* free Gs beyond the per-P caches, and the stack slabs */
	struct lock gflock;
	struct g *gfree;			/* gflock: warm, LIFO */
	_Atomic int ngfree;			/* gflock writes */
	int gwarm_keep;				/* I: stack_cache, <0: all */
	/* gflock: dead Gs whose slots went back to the kernel (stack.c) */
	uintptr_t *gcold;
	size_t ncold, capcold;
	_Atomic uint64_t stacks_cooled;		/* gflock writes */
	bool cooling;				/* gflock: an M in stack_cool */
	struct slab *slabs;			/* gflock */
	void *slab_hdrs;			/* gflock: headers' page */
	size_t slab_hdrs_used;			/* gflock */
	long guards_left;			/* gflock: guard-page budget */
	_Atomic uint64_t goid;

	/* sysmon (sysmon.c) */
	_Atomic uint32_t sysmonwait;		/* A: 1 while it sleeps long */
	_Atomic uint64_t handoffs, handoff_waits;
	_Atomic uint64_t wakeups;		/* A: wakep started an M */
	_Atomic uint64_t ring_submits, ring_ops; /* A: uring.c's submits */
	int threads;				/* L: threads created this run:
						 * Ms and helpers (template,
						 * sysmon), which live as long
						 * as the run */
	_Atomic int nkstandby;			/* L (read racily by
						 * schedule_loop): Ms parked in
						 * the module (kmod) or a P's
						 * ring (bpf) */
	int kstandby_target;			/* I: those that start there */
	int kstandby_low;			/* I: standby_refill keeps at
						 * least this many there (kmod
						 * 1: any serves any P; bpf
						 * the target: one per ring) */
	unsigned int flags;			/* I: sact_config.flags */
};

extern struct sched sched;

/* The M running this code (fs-relative load; see getm() in proc.c). */
struct m *getm(void);
int runtime_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
struct m *getm_raw(void);	/* the same, without m_resync */

/*
 * A public entry that may have called getm() - itself, or through goready,
 * getg_or_threadg, park_prepare - returns to G code through this, whether
 * it switched or not: getm's m_resync said "runtime code", and only this or
 * a switch's return says "G code" again.  Without it a plain block right
 * after the call would keep its P (selftests/backends/missed.c).  On a
 * plain thread (no M) and on g0 it does nothing.  Entries that never reach
 * getm (the mutex's and semaphore's lock-free fast paths) need not call it.
 */
static inline void back_to_g(void)
{
	struct m *m = getm_raw();

	if (m)
		m_back_to_g(m);
}

/* Scheduler entry points used by the other files (proc.c). */
void goready(struct g *gp);
int gopark(struct g *gp, struct lock *unlock, int64_t deadline);
int gopark_locks(struct g *gp, struct lock **locks, int n, int64_t deadline);
bool runqempty(struct p *pp);
void runqput(struct p *pp, struct g *gp, bool next);
void startm(struct p *pp, bool spinning, bool handoff);
void handoffp(struct p *pp);
void wakep(void);
#define SYNC_SPINS	4	/* Go's active_spin */
bool sync_canspin(int iter);
struct g *getg_or_threadg(void);
struct p *pidleget(void);		/* sched.lock held */
void pidle_taken(struct p *pp);		/* sched.lock held */
bool checkdead(void);			/* sched.lock held */
#define CHECKDEAD_AGAIN_NS	100000000	/* 100 ms */
struct p *ring_wants_poller(void);	/* sched.lock held */
void acquirep(struct m *m, struct p *pp);
void sact_switch_to_g0(struct m *m, struct g *gp);

/* uring.c (the hooks proc.c calls; see uring.c's top comment) */
struct uring;
int uring_init(void);
void uring_fini(void);
void uring_poll(struct p *pp);		/* owner: submit pending, reap */
bool uring_busy(struct p *pp);		/* ops in flight (L or owner) */
bool uring_idle_ready(struct p *pp, int64_t *wake); /* L, pp's poller */
void uring_idle_wait(struct m *m, struct p *pp, int64_t timeout_ns);
void uring_wake(struct m *m);		/* m polls or polled an idle P */
bool uring_m_ready(struct m *m);	/* L: m's eventfd exists */
bool uring_m_submitted(struct m *m);	/* ops of m's in flight */

/* stack.c */
#define STACK_GUARD	(64UL << 10)	/* below each G stack: PROT_NONE */
void stack_fault_install(void);
void stack_fault_uninstall(void);
int m_altstack_init(struct m *m);
void m_altstack_fini(struct m *m);
struct g *galloc(void);
void gfree_all(void);
void stack_cool(void);	/* an M without a P, before it parks */
long stack_guard_budget(void);
void gfput(struct p *pp, struct g *gp);
struct g *gfget(struct p *pp);

/* time.c */
bool timer_reserve(struct p *pp);
int timers_init(struct p *pp);
void timers_free(struct p *pp);
void timer_add(struct p *pp, struct g *gp);
void timer_del(struct g *gp);
void timers_run(struct p *pp, int64_t now, struct p *into);
int64_t timers_next(void);

/* wait queues of the sync primitives (sync.c) */
struct waiter {
	struct waiter *next, *prev;
	struct g *g;
	void *elem;		/* channel: where to copy from/to */
	int ok;			/* woken with success */
	bool queued;		/* Q: still on the queue */
	bool fired;		/* Q: wq_pop claimed the G through it */
};
struct waitq {
	struct waiter *head, *tail;
};
void wq_push(struct waitq *q, struct waiter *w);
void wq_push_front(struct waitq *q, struct waiter *w);
void wq_remove(struct waitq *q, struct waiter *w);
struct waiter *wq_pop(struct waitq *q);
int park_prepare(bool timed);
int park_on(struct waitq *q, struct waiter *w, struct lock *l, bool front,
	    bool timed, uint64_t timeout_ns);

#endif /* SACT_INTERNAL_H */
