// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * uring.c - I/O for Gs on io_uring (liburing): the async path beside the
 * blocking-with-handoff wrappers of syscall.c.
 *
 * A ring call (sact_ring_read, ...) puts one SQE on the ring of the P its
 * G runs on, parks the G, and returns the CQE's result (count or -errno)
 * once a completion readied it.  Blocking wrappers keep the M in the
 * kernel and let the backend hand the P away; ring calls never block the
 * M: the P runs other Gs while the kernel does the I/O.
 *
 * Design
 * ======
 *
 * Rejected designs:
 *
 * 1. One ring for the process.  Every submission would need a lock (or
 *    one submitting thread and a hop to it).  One ring per P: a G runs on
 *    the M that holds its P, and only that M touches the P's SQ and CQ, so
 *    neither side takes a lock.
 * 2. A ring per M.  Ms outnumber Ps (standbys), and an M blocked in the
 *    kernel would strand its completions; the P is what moves.
 * 3. A completion thread (reaper) that readies Gs.  One more wakeup on
 *    every completion, and a thread that is not an M.  Here the P's own
 *    scheduler reaps between Gs (pick_local), and an M that would park
 *    waits in the ring instead (Go's netpoll(delay) in findrunnable).
 * 4. user_data = the G.  A G can have one op and a linked timeout, and
 *    the result must be stored somewhere before the G runs; user_data is
 *    a struct uring_op on the parked G's stack, alive until its own CQE
 *    (the G does not run before it), so no CQE touches freed memory.
 * 5. Submitting in the ring call, before the G has picked what runs
 *    next.  A CQE could then be reaped (by this same M, in next_after's
 *    pick_local) and the G readied before it has switched away.  The
 *    SQE is only prepared in the call; uring_poll submits it after it
 *    has reaped (pick_local of the park's next_after, again in the
 *    post-switch step): the owner reaps next only after the switch, and
 *    no other M reaps a running P's ring.
 * 6. Submitting once per park (one io_uring_enter per ring call: two a
 *    request for a server that reads and writes).  SQEs are submitted in
 *    batches instead: when the P's local queue runs dry (the Gs the last
 *    reap readied have all had their turn and queued their next ops), or
 *    RING_BATCH SQEs wait, or the oldest has waited RING_BATCH schedules
 *    (a G that computes, or a queue that never drains, holds them back no
 *    longer than that).  httpd ring mode under wrk, 2 Ps: 2.0 enters per
 *    request before, 0.17-0.18 after; 256 connections 64k -> 79k req/s,
 *    1024 61k -> 68k, p99 144 -> 35 ms (one run each, beside a KASAN
 *    guest).  The price: a request waits until its P schedules again,
 *    so a G that computes for long (no preemption) holds back the
 *    requests its P's other Gs queued - a send as well as a read - as it
 *    holds back their wakeups and timers.  (An earlier measurement,
 *    fileio from the disk with O_DIRECT, found batching no clear gain
 *    there: the device waits for the batch.)
 * 7. Holding the P while the SQ is full (io_uring_submit_and_wait): the
 *    M would wait in the kernel with the P, hostage of a completion.
 *    See op_ring: submit again, else sleep on a runtime timer and retry.
 * 8. IORING_SETUP_SINGLE_ISSUER (6.0) and DEFER_TASKRUN (6.1, which
 *    needs it), the flags an event loop of one thread per ring sets
 *    (bench/ring_loop.c does): a P's ring is submitted to by whichever
 *    M holds the P, and the kernel refuses a second submitting task
 *    (-EEXIST).  COOP_TASKRUN: see "Completions" below.
 *
 * Ownership (the P's owner is "O"): SQ and CQ: O only.  inflight: O
 * writes; others read it under sched.lock only while the P is idle (it
 * does not change then).  A parked G's uring_op: written by the reaper
 * (O) before it readies the G (runqput's store-release publishes it).
 *
 * Wake/idle protocol.  An M with nothing to run puts its P on the idle
 * list, then parks (stopm, proc.c).  An idle P with ops in flight must
 * have an M waiting for its completions, or they would sit unread.
 *
 * The CQ of an idle P has more than one reader: the M waiting for it
 * (the poller) and, as soon as a waker takes the P, the P's new owner,
 * which reaps between Gs.  So the poller does not wait for a CQE (the
 * owner may reap the very CQE that woke it, and the poller would sleep
 * again: that was the lost wake of the first design, which waited in
 * io_uring_wait_cqe; liburing's wait loop re-enters the kernel when the
 * CQE it was woken for is gone).  It waits on two eventfds instead, each
 * with one reader:
 *
 *   - the ring's eventfd (io_uring_register_eventfd): the kernel adds to
 *     it whenever it posts CQEs; drained only by the P's poller, under
 *     sched.lock, while it is the poller;
 *   - the M's own eventfd (Go's netpollBreak): written by whoever takes
 *     the poller's P away or hands it a P; drained only by that M.
 *
 *  1. (owner, findrunnable) pick_local reaps and submits what is pending
 *     before the P goes idle; pidleput sets pp->onidle under sched.lock.
 *  2. (any M in stopm, sched.lock held) scan the Ps: one that is onidle,
 *     has ops in flight (uring_busy) and no poller gets this M as
 *     pp->poller (m->pollp = pp, m->park = 0).  Such an M is not on the
 *     idle M list (so checkdead does not call in-flight I/O a deadlock).
 *     A P that went idle with ops in flight was idled by an M that comes
 *     here next (or takes a P back first and comes here later), so the
 *     P gets a poller.
 *  3. (poller, sched.lock held) park == 1: run the P startm gave.  pollp
 *     no longer pp: the P was taken; stop polling, park again (stopm).
 *     Else drain the ring's eventfd, then look at the CQ (uring_idle_
 *     ready): a CQE (or the timer due, or refused SQEs due for a retry)
 *     - take pp off the idle list and run it (pick_local reaps the CQEs
 *     and readies the Gs).  Only here, under the lock and while it is
 *     the poller, does it look at pp's rings: once detached, pp may have
 *     a new owner.
 *  4. (poller, no lock) ppoll() both eventfds until one is readable or
 *     the next timer is due, then drain its own; back to 3.
 *  5. (a waker: startm/pidleget/teardown, sched.lock held) taking pp off
 *     the idle list detaches its poller (pp->poller = NULL, m->pollp =
 *     NULL); startm hands pp to that very M (m->nextp = pp, park = 1).
 *     Then it writes the poller's own eventfd (uring_wake).
 *  No lost wakeup: a CQE posted before the drain of step 3 is in the CQ
 *  when step 3 looks (the kernel bumps the eventfd after it moved the CQ
 *  tail, and the drain and the bump take the eventfd's lock), and nobody
 *  can reap it while pp is idle; one posted after the drain leaves the
 *  eventfd readable for step 4.  A waker changes the state under
 *  sched.lock before it writes: a write that the drain of step 4 eats
 *  was preceded by a change that the next step 3 sees; any other write
 *  finds the ppoll, or makes it return at once.  Only the current poller drains the ring's eventfd (an M
 *  detached from pp, still on its way out, does not), and only the M
 *  itself drains its own: no one eats another's wakeup.
 *
 * Completions are posted by the kernel in the submitting thread's
 * task_work for pollable files (pipes, sockets): the rings are set up
 * without COOP_TASKRUN, so that task_work interrupts the thread wherever
 * it waits (futex, ppoll) and the CQE is not held back.
 *
 * Timeouts: sact_ring_settimeout(ns) arms a LINK_TIMEOUT on the G's next
 * ring op: the op ends with -ECANCELED when it fires.  The G waits for
 * the op's own CQE either way, so a timed-out op is not in flight once
 * the call returns.  sact_ring_timeout() is a sleep on the ring.
 *
 * sact_run returning: a G waiting on a ring op is a live G, so sact_run
 * cannot return under it.  What can be in flight at teardown is internal
 * (a link timeout's CQE), with user_data that names no memory;
 * io_uring_queue_exit cancels it.
 *
 * Rings unavailable (io_uring_setup fails: ENOSYS, EPERM in a sandbox,
 * io_uring_disabled): no P has a ring, every ring call returns that
 * error (sact_ring_available() says so up front), the rest of the
 * runtime does not notice.
 */
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <liburing.h>

#include "internal.h"

#define RING_SQ		256
#define RING_CQ		4096	/* completions not yet reaped beyond this wait
				 * in the kernel's overflow list (NODROP) */
#define RETRY_NS	(1000 * 1000)		/* a refused submit: first retry */
#define RETRY_MAX_NS	(64 * 1000 * 1000)

#define UD_IGNORE	0	/* link timeouts: nothing to do */

struct uring {
	struct io_uring ring;
	int cqfd;			/* I: eventfd the kernel bumps on CQEs */
	_Atomic uint32_t inflight;	/* O writes; see the top */
	int64_t retry_at;		/* O; L while idle: refused SQEs' retry */
	uint32_t sq_tick;		/* O: pp->schedtick when SQEs began to
					 * wait (sq_waiting) */
	bool sq_waiting;		/* O */
};

struct uring_op {
	struct g *g;
	struct m *subm;			/* the M whose submit took it */
	int res;
	struct __kernel_timespec ts;	/* a linked timeout's limit */
};

static int uring_err = -ENOSYS;		/* 0 when the rings exist */
/* I: SACT_RING_ENTRIES (SQ size; the CQ gets twice that), and
 * SACT_RING_EAGAIN=N: only one io_uring_submit in N is let through, the
 * others are refused as if by the kernel (debug knobs: the tests of a
 * full SQ) */
static unsigned ring_sq = RING_SQ, ring_cq = RING_CQ, fault_every;
static _Atomic unsigned fault_n;

static void uring_free(struct uring *r)
{
	io_uring_queue_exit(&r->ring);
	if (r->cqfd >= 0)
		close(r->cqfd);
	free(r);
}

static struct uring *uring_new(int *err)
{
	struct io_uring_params par;
	struct uring *r = calloc(1, sizeof(*r));

	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(&par, 0, sizeof(par));
	par.flags = IORING_SETUP_CQSIZE;
	par.cq_entries = ring_cq;
	*err = io_uring_queue_init_params(ring_sq, &r->ring, &par);
	if (*err < 0) {
		free(r);
		return NULL;
	}
	r->cqfd = -1;
	if (!(par.features & IORING_FEAT_NODROP)) {
		*err = -EOPNOTSUPP;
		goto out_free;
	}
	r->cqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->cqfd < 0) {
		*err = -errno;
		goto out_free;
	}
	*err = io_uring_register_eventfd(&r->ring, r->cqfd);
	if (*err < 0)
		goto out_free;
	return r;

out_free:
	uring_free(r);
	return NULL;
}

static unsigned env_uint(const char *name, unsigned dflt, unsigned min,
			 unsigned max)
{
	const char *v = getenv(name);
	unsigned long n;

	if (!v || !*v)
		return dflt;
	n = strtoul(v, NULL, 0);
	return n < min ? min : n > max ? max : n;
}

/* At sact_run, before the Ms exist: a ring per P, or none at all. */
int uring_init(void)
{
	int err;

	/* 2 at least: an op and its linked timeout go in together */
	ring_sq = env_uint("SACT_RING_ENTRIES", RING_SQ, 2, 4096);
	ring_cq = ring_sq == RING_SQ ? RING_CQ : 2 * ring_sq;
	fault_every = env_uint("SACT_RING_EAGAIN", 0, 0, 1000000);
	err = 0;
	for (int i = 0; !err && i < sched.nprocs; i++) {
		sched.allp[i].ring = uring_new(&err);
		if (!sched.allp[i].ring) {
			for (int k = 0; k < i; k++) {
				uring_free(sched.allp[k].ring);
				sched.allp[k].ring = NULL;
			}
			break;
		}
	}
	uring_err = err;
	return err;
}

/* After every M has exited: no G waits on an op; cancel the rest. */
void uring_fini(void)
{
	for (int i = 0; i < sched.nprocs; i++) {
		if (sched.allp[i].ring) {
			if (ld(&sched.allp[i].ring->inflight))
				throw("sact: ring ops in flight at exit");
			uring_free(sched.allp[i].ring);
			sched.allp[i].ring = NULL;
		}
	}
}

/*
 * m is about to wait in an idle P's ring (step 4): give it its own eventfd
 * (uring_wake's), made once per M and closed when the M is freed.  true if
 * it has one.  sched.lock held.
 */
bool uring_m_ready(struct m *m)
{
	if (m->wakefd < 0)
		m->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return m->wakefd >= 0;
}

/*
 * m may not exit (retire) while this is true: the kernel ties a request
 * to the thread that submitted it, and one still in flight when that
 * thread exits ends -ECANCELED (a poll-armed read: its wakeup finds no
 * task to run on).  Any thread; a stale false is impossible, as only m
 * submits as m, and m is the caller's subject parked on the idle list.
 */
bool uring_m_submitted(struct m *m)
{
	return atomic_load(&m->ring_ops) > 0;
}

bool uring_busy(struct p *pp)
{
	return ld(&pp->ring->inflight) > 0;
}

static void eventfd_drain(int fd)
{
	eventfd_t v;

	(void)eventfd_read(fd, &v);	/* nonblocking: EAGAIN when 0 */
}

/*
 * Step 3: drain pp's CQ eventfd, then say whether pp's CQ has something
 * to reap, or refused SQEs are due for a retry (else lower *wake, a
 * nanotime or -1 for none, to that retry).  sched.lock held, by the M
 * that is pp->poller (nobody else touches pp's rings meanwhile).
 */
bool uring_idle_ready(struct p *pp, int64_t *wake)
{
	struct uring *r = pp->ring;

	eventfd_drain(r->cqfd);
	if (io_uring_cq_ready(&r->ring) || io_uring_cq_has_overflow(&r->ring))
		return true;
	if (!io_uring_sq_ready(&r->ring))
		return false;
	if (nanotime() >= r->retry_at)
		return true;
	if (*wake < 0 || r->retry_at < *wake)
		*wake = r->retry_at;
	return false;
}

/*
 * Step 4: m (pp's poller, or detached from it since step 3) waits until
 * pp's ring posts a CQE, someone wakes m (uring_wake), or timeout_ns
 * passes (<0: none).  No lock held: pp may have a new owner already, so
 * only pp's eventfd (I) is looked at.
 */
void uring_idle_wait(struct m *m, struct p *pp, int64_t timeout_ns)
{
	struct pollfd pfd[2] = {
		{ .fd = pp->ring->cqfd, .events = POLLIN },
		{ .fd = m->wakefd, .events = POLLIN },
	};
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	ppoll(pfd, 2, tsp, NULL);
	eventfd_drain(m->wakefd);
}

/* Step 5: wake m, which polls (or polled) an idle P's ring. */
void uring_wake(struct m *m)
{
	eventfd_write(m->wakefd, 1);
}

/*
 * Hand r's prepared SQEs to the kernel.  What it refuses (it cannot
 * allocate: -EAGAIN, -ENOMEM; kernels before 5.19 also -EBUSY while
 * they cannot flush a CQ backlog) stays in the SQ; an idle P's poller
 * retries it at r->retry_at (uring_idle_ready).  Owner only.
 */
static void ring_submit(struct uring *r)
{
	struct io_uring_sq *sq = &r->ring.sq;
	unsigned head = io_uring_smp_load_acquire(sq->khead), end;
	struct m *m = getm_raw();

	if (fault_every && atomic_fetch_add(&fault_n, 1) % fault_every != 0)
		;	/* SACT_RING_EAGAIN: refused */
	else if (io_uring_submit(&r->ring) >= 0)
		atomic_fetch_add_explicit(&sched.ring_submits, 1, RELAXED);
	/* the SQEs the kernel took are now m's requests (see ring_ops) */
	end = io_uring_smp_load_acquire(sq->khead);
	for (; head != end; head++) {
		uint64_t ud = sq->sqes[head & sq->ring_mask].user_data;

		if (ud == UD_IGNORE)
			continue;
		((struct uring_op *)(uintptr_t)ud)->subm = m;
		atomic_fetch_add(&m->ring_ops, 1);
		atomic_fetch_add_explicit(&sched.ring_ops, 1, RELAXED);
	}
	if (io_uring_sq_ready(&r->ring))
		r->retry_at = nanotime() + RETRY_NS;
}

/*
 * Submit r's waiting SQEs now?  When pp has nothing else to run (its Gs
 * have all queued their ops), RING_BATCH of them wait, or the oldest has
 * waited RING_BATCH schedules of pp (design note 6).  Owner only.
 */
#define RING_BATCH	32

static bool ring_submit_due(struct p *pp, struct uring *r)
{
	unsigned ready = io_uring_sq_ready(&r->ring);
	uint32_t tick = ld(&pp->schedtick);

	if (!ready) {
		r->sq_waiting = false;
		return false;
	}
	if (!r->sq_waiting) {
		r->sq_waiting = true;
		r->sq_tick = tick;
	}
	return ready >= RING_BATCH || tick - r->sq_tick >= RING_BATCH ||
	       runqempty(pp);
}

/*
 * Reap pp's CQ and ready the Gs it completes onto pp, then submit what is
 * pending if it is due (ring_submit_due), or whatever waits if flush.
 * Must run on the owner of pp (a G or g0).
 */
static void ring_reap(struct p *pp, bool flush)
{
	struct uring *r = pp->ring;
	struct io_uring_cqe *cqe;
	unsigned head, n;
	int readied = 0;

	for (;;) {
		n = 0;
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			uint64_t ud = cqe->user_data;
			struct uring_op *op;
			int z = 0;

			n++;
			if (ud == UD_IGNORE)
				continue;
			op = (struct uring_op *)(uintptr_t)ud;
			op->res = cqe->res;
			atomic_fetch_sub(&op->subm->ring_ops, 1);
			st(&r->inflight, ld(&r->inflight) - 1);
			if (!atomic_compare_exchange_strong(&op->g->claim, &z,
							    CLAIM_WOKEN))
				throw("sact: ring op's G readied twice");
			runqput(pp, op->g, false);
			readied++;
		}
		io_uring_cq_advance(&r->ring, n);
		if (!io_uring_cq_has_overflow(&r->ring))
			break;
		io_uring_get_events(&r->ring);	/* the kernel's backlog */
	}
	if (flush ? io_uring_sq_ready(&r->ring) > 0 : ring_submit_due(pp, r)) {
		ring_submit(r);
		r->sq_waiting = false;
	}
	if (readied)
		wakep();
}

/* pick_local's look at pp's ring: reap, and submit when due. */
void uring_poll(struct p *pp)
{
	ring_reap(pp, false);
}

/* ---- the calls --------------------------------------------------------- */

/*
 * Get n SQEs' room on the current P's ring; never drops.  The SQ holds
 * only SQEs prepared since the last submit (one park's worth), so it is
 * full only when the kernel refused a submit: then submit (and reap)
 * again, and if the kernel still refuses, sleep on a runtime timer and
 * retry, backing off: the P runs other Gs meanwhile (the M does not
 * wait in the kernel holding it).  The G may come back on another P.
 * Must run on a G; NULL without a ring.
 */
static struct uring *op_ring(unsigned n)
{
	int64_t backoff = RETRY_NS;

	for (;;) {
		struct m *m = getm();
		struct uring *r;

		if (!m || m->curg == &m->g0 || !m->p)
			return NULL;
		r = m->p->ring;
		if (!r)
			return NULL;
		if (io_uring_sq_space_left(&r->ring) >= n)
			return r;
		ring_reap(m->p, true);	/* reaps, then submits all */
		if (io_uring_sq_space_left(&r->ring) >= n)
			return r;
		sact_sleep_ns(backoff);
		if (backoff < RETRY_MAX_NS)
			backoff *= 2;
	}
}

static int op_err(void)
{
	struct m *m = getm();

	if (!m || m->curg == &m->g0 || !m->p)
		return -EPERM;
	return uring_err ? uring_err : -ENOSYS;
}

/* Park the running G on op (sqe prepared); return the CQE's result. */
static long op_park(struct uring *r, struct io_uring_sqe *sqe,
		    struct uring_op *op)
{
	struct m *m = getm();
	struct g *gp = m->curg;

	op->g = gp;
	op->res = 0;
	io_uring_sqe_set_data(sqe, op);
	if (gp->ring_timeout) {
		struct io_uring_sqe *ts = io_uring_get_sqe(&r->ring);

		op->ts.tv_sec = gp->ring_timeout / 1000000000;
		op->ts.tv_nsec = gp->ring_timeout % 1000000000;
		gp->ring_timeout = 0;
		sqe->flags |= IOSQE_IO_LINK;
		io_uring_prep_link_timeout(ts, &op->ts, 0);
		io_uring_sqe_set_data64(ts, UD_IGNORE);
	}
	st(&r->inflight, ld(&r->inflight) + 1);
	st(&gp->claim, 0);
	gopark(gp, NULL, 0);	/* submitted by the post-switch step */
	return op->res;
}

/* prep: a statement using `sqe`; the call's value is the CQE's res */
#define RING_CALL(prep) ({						\
	struct uring_op _op;						\
	struct uring *_r;						\
	struct io_uring_sqe *sqe;					\
	long _res;							\
	struct m *_m = getm();						\
	int _n = (_m && _m->curg && _m->curg->ring_timeout) ? 2 : 1;	\
									\
	_r = op_ring(_n);						\
	if (!_r) {							\
		_res = op_err();					\
		back_to_g();						\
	} else {							\
		sqe = io_uring_get_sqe(&_r->ring);			\
		prep;							\
		_res = op_park(_r, sqe, &_op);				\
	}								\
	_res;								\
})

SACT_API int sact_ring_available(void)
{
	if (!getm_raw()) {
		/* not in a run: try a ring here and now */
		int err = 0;
		struct uring *r = uring_new(&err);

		if (r)
			uring_free(r);
		return err;
	}
	return uring_err;
}

/*
 * Cancel the requests on fd in every P's ring: the ring of a G parked on
 * P0 is not the caller's, and only P0's owner may touch P0's SQ, so no
 * ASYNC_CANCEL SQE: IORING_REGISTER_SYNC_CANCEL (6.0) is a syscall on the
 * ring's fd that any thread may make.  The cancelled requests' CQEs go
 * to their own rings and are reaped there as usual.  Through
 * sact_syscall: the kernel may wait for a request that is running.
 */
SACT_API int sact_ring_cancel_fd(int fd)
{
	struct m *m = getm_raw();
	int n = 0;

	/* no getm: sact_syscall below enters the runtime and leaves it */
	if (!m || m->curg == &m->g0 || !m->p)
		return -EPERM;
	if (uring_err)
		return uring_err;
	for (int i = 0; i < sched.nprocs; i++) {
		struct io_uring_sync_cancel_reg reg = {
			.fd = fd,
			.flags = IORING_ASYNC_CANCEL_FD |
				 IORING_ASYNC_CANCEL_ALL,
			.timeout = { .tv_sec = -1, .tv_nsec = -1 },
		};
		long r = sact_syscall(__NR_io_uring_register,
				      sched.allp[i].ring->ring.ring_fd,
				      IORING_REGISTER_SYNC_CANCEL, &reg, 1);

		if (r < 0 && r != -ENOENT)
			return (int)r;
		if (r > 0)
			n += (int)r;
	}
	return n;
}

SACT_API void sact_ring_settimeout(uint64_t ns)
{
	struct m *m = getm_raw();

	/* no getm: a field of the running G, nothing of its P */
	if (m && m->curg && m->curg != &m->g0)
		m->curg->ring_timeout = ns ? ns : 1;
}

SACT_API ssize_t sact_ring_read(int fd, void *buf, size_t count)
{
	return RING_CALL(io_uring_prep_read(sqe, fd, buf, count, -1));
}

SACT_API ssize_t sact_ring_write(int fd, const void *buf, size_t count)
{
	return RING_CALL(io_uring_prep_write(sqe, fd, buf, count, -1));
}

SACT_API ssize_t sact_ring_pread(int fd, void *buf, size_t count,
				 off_t offset)
{
	return RING_CALL(io_uring_prep_read(sqe, fd, buf, count, offset));
}

SACT_API ssize_t sact_ring_pwrite(int fd, const void *buf, size_t count,
				  off_t offset)
{
	return RING_CALL(io_uring_prep_write(sqe, fd, buf, count, offset));
}

SACT_API ssize_t sact_ring_readv(int fd, const struct iovec *iov, int iovcnt,
				 off_t offset)
{
	return RING_CALL(io_uring_prep_readv(sqe, fd, iov, iovcnt, offset));
}

SACT_API ssize_t sact_ring_writev(int fd, const struct iovec *iov,
				  int iovcnt, off_t offset)
{
	return RING_CALL(io_uring_prep_writev(sqe, fd, iov, iovcnt, offset));
}

SACT_API int sact_ring_accept(int fd, struct sockaddr *addr,
			      socklen_t *addrlen)
{
	return RING_CALL(io_uring_prep_accept(sqe, fd, addr, addrlen,
					      SOCK_CLOEXEC));
}

SACT_API int sact_ring_connect(int fd, const struct sockaddr *addr,
			       socklen_t addrlen)
{
	return RING_CALL(io_uring_prep_connect(sqe, fd, addr, addrlen));
}

SACT_API ssize_t sact_ring_recv(int fd, void *buf, size_t len, int flags)
{
	return RING_CALL(io_uring_prep_recv(sqe, fd, buf, len, flags));
}

SACT_API ssize_t sact_ring_send(int fd, const void *buf, size_t len,
				int flags)
{
	return RING_CALL(io_uring_prep_send(sqe, fd, buf, len, flags));
}

SACT_API int sact_ring_openat(int dirfd, const char *path, int flags,
			      mode_t mode)
{
	return RING_CALL(io_uring_prep_openat(sqe, dirfd, path, flags, mode));
}

SACT_API int sact_ring_close(int fd)
{
	return RING_CALL(io_uring_prep_close(sqe, fd));
}

SACT_API int sact_ring_fsync(int fd)
{
	return RING_CALL(io_uring_prep_fsync(sqe, fd, 0));
}

SACT_API int sact_ring_timeout(uint64_t ns)
{
	struct __kernel_timespec ts = {
		.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000,
	};

	return RING_CALL(io_uring_prep_timeout(sqe, &ts, 0, 0));
}
