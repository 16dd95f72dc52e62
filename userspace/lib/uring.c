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
 * 5. Submitting in the ring call, before the G is off its stack.  A CQE
 *    could then be reaped (by this same M, in next_after) before the G
 *    has switched away.  The SQE is only prepared in the call; it is
 *    submitted by the post-switch step of the park (run_after), when the
 *    G is off its stack, and by pick_local for anything left pending.
 *
 * Ownership (the P's owner is "O"): SQ and CQ: O only.  inflight: O
 * writes; others read it under sched.lock only while the P is idle (it
 * does not change then).  A parked G's uring_op: written by the reaper
 * (O) before it readies the G (runqput's store-release publishes it).
 *
 * Wake/idle protocol.  An M with nothing to run puts its P on the idle
 * list, then parks (stopm, proc.c).  An idle P with ops in flight must
 * have an M waiting in its ring, or its completions would sit unread.
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
 *  3. (poller, no lock) io_uring_wait_cqe_timeout(pp's ring, the next
 *     timer): it returns on a CQE - a completion, or the wake CQE of
 *     step 4 - or at the timer.  It only waits; it consumes nothing.
 *  4. (a waker: startm/pidleget, sched.lock held) taking pp off the idle
 *     list detaches its poller (pp->poller = NULL, m->pollp = NULL).
 *     startm hands pp to that very M (m->nextp = pp, park = 1), anyone
 *     else just takes pp; either way the waker then writes pp's eventfd,
 *     which a read in pp's ring waits on (an io-wq worker blocked in it):
 *     that posts a CQE, which ends step 3 (Go's netpollBreak, inside the
 *     ring).
 *  5. (poller, sched.lock) park == 1: run the P startm gave.  pollp no
 *     longer pp: the P was taken; stop polling, park again (stopm).
 *     Otherwise (a completion, or the timer): take pp itself off the idle
 *     list and run it: pick_local reaps the CQEs and readies the Gs.
 *  No lost wakeup: steps 2, 4 and 5 are all under sched.lock, so the
 *  waker either finds the poller attached (and wakes it through the
 *  ring, whose wait returns at once if that CQE came first) or finds it
 *  gone; a completion after step 1 sits in the CQ, and the wait of step 3
 *  returns at once for a non-empty CQ.
 *
 * Wake CQEs are reaped like any other (user_data UD_WAKE) and the read is
 * re-armed (while ops are in flight); a count written meanwhile makes the
 * next read return at once: a spurious wakeup, never a lost one.
 *
 * Completions are posted by the kernel in the submitting thread's
 * task_work for pollable files (pipes, sockets): the rings are set up
 * without COOP_TASKRUN, so that task_work interrupts the thread wherever
 * it waits (futex, another ring) and the CQE is not held back.
 *
 * Timeouts: sact_ring_settimeout(ns) arms a LINK_TIMEOUT on the G's next
 * ring op: the op ends with -ECANCELED when it fires.  The G waits for
 * the op's own CQE either way, so a timed-out op is not in flight once
 * the call returns.  sact_ring_timeout() is a sleep on the ring.
 *
 * sact_run returning: a G waiting on a ring op is a live G, so sact_run
 * cannot return under it.  What can be in flight at teardown is internal
 * (a link timeout's CQE, the wake poll), with user_data that names no
 * memory; io_uring_queue_exit cancels it.
 *
 * Known gaps: on 6.1 in the VM, a poller was seen still waiting after
 * teardown's wake (the M that had armed the wake read had exited, and its
 * io-wq with it, without a CQE).  The poller therefore also wakes every
 * 100 ms and rechecks (stopm_poll): a lost wake costs that much latency,
 * never a hang; an idle runtime with ops in flight costs 10 wakeups/s.
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
#include <liburing.h>

#include "internal.h"

#define RING_SQ		256
#define RING_CQ		16384	/* in-flight ops beyond this: kernel overflow list */

#define UD_IGNORE	0	/* link timeouts: nothing to do */
#define UD_WAKE		1	/* the eventfd poll of step 4 */

struct uring {
	struct io_uring ring;
	int wakefd;
	bool wake_armed;		/* O */
	uint64_t wakebuf;		/* the wake read's buffer (kernel) */
	_Atomic uint32_t inflight;	/* O writes; see the top */
};

struct uring_op {
	struct g *g;
	int res;
	struct __kernel_timespec ts;	/* a linked timeout's limit */
};

static int uring_err = -ENOSYS;		/* 0 when the rings exist */

static void uring_free(struct uring *r)
{
	io_uring_queue_exit(&r->ring);
	if (r->wakefd >= 0)
		close(r->wakefd);
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
	par.cq_entries = RING_CQ;
	*err = io_uring_queue_init_params(RING_SQ, &r->ring, &par);
	if (*err < 0) {
		free(r);
		return NULL;
	}
	r->wakefd = -1;
	/* waiting with a timeout must not take an SQE (step 3) */
	if (!(par.features & IORING_FEAT_EXT_ARG) ||
	    !(par.features & IORING_FEAT_NODROP)) {
		*err = -EOPNOTSUPP;
		goto out_free;
	}
	r->wakefd = eventfd(0, EFD_CLOEXEC);	/* blocking: see wake_arm */
	if (r->wakefd < 0) {
		*err = -errno;
		goto out_free;
	}
	return r;

out_free:
	uring_free(r);
	return NULL;
}

/* At sact_run, before the Ms exist: a ring per P, or none at all. */
int uring_init(void)
{
	int err = 0;

	for (int i = 0; i < sched.nprocs; i++) {
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

bool uring_busy(struct p *pp)
{
	return ld(&pp->ring->inflight) > 0;
}

bool uring_wait(struct p *pp, int64_t timeout_ns)
{
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	return io_uring_wait_cqe_timeout(&pp->ring->ring, &cqe, tsp) == 0;
}

void uring_wake(struct p *pp)
{
	eventfd_write(pp->ring->wakefd, 1);
}

/*
 * Arm the wake read (owner); submitted with the next flush.  A blocking
 * read of the eventfd forced into io-wq (IOSQE_ASYNC): an io-wq worker
 * sleeps in it and posts the CQE itself when the eventfd is written.  A
 * POLL_ADD would post it from task_work of the M that armed it, which
 * may be asleep elsewhere or, at teardown, gone (seen on 6.1: the wake
 * never came).
 */
static void wake_arm(struct uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe)
		return;		/* the SQ is full: the next poll tries again */
	io_uring_prep_read(sqe, r->wakefd, &r->wakebuf, sizeof(r->wakebuf), 0);
	sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data64(sqe, UD_WAKE);
	r->wake_armed = true;
}

/*
 * Reap pp's CQ and ready the Gs it completes onto pp, then submit what is
 * pending.  Must run on the owner of pp (a G or g0).
 */
void uring_poll(struct p *pp)
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
			if (ud == UD_WAKE) {
				r->wake_armed = false;	/* one shot */
				continue;
			}
			op = (struct uring_op *)(uintptr_t)ud;
			op->res = cqe->res;
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
	if (!r->wake_armed && ld(&r->inflight))
		wake_arm(r);
	if (io_uring_sq_ready(&r->ring))
		io_uring_submit(&r->ring);	/* errors: retried next time */
	if (readied)
		wakep();
}

/* ---- the calls --------------------------------------------------------- */

/*
 * Get n SQEs' room on the current P's ring; never drops: submits, reaps,
 * and as a last resort waits for one completion.  Must run on a G.
 */
static struct uring *op_ring(int n)
{
	struct m *m = getm();
	struct uring *r;

	if (!m || m->curg == &m->g0 || !m->p)
		return NULL;
	r = m->p->ring;
	if (!r)
		return NULL;
	if (!r->wake_armed)
		n++;	/* op_park arms the wake poll */
	while (io_uring_sq_space_left(&r->ring) < (unsigned)n) {
		io_uring_submit(&r->ring);
		if (io_uring_sq_space_left(&r->ring) >= (unsigned)n)
			break;
		uring_poll(m->p);
		if (io_uring_sq_space_left(&r->ring) >= (unsigned)n)
			break;
		/* the kernel takes nothing (-EBUSY/-EAGAIN): let it finish
		 * something first; the M holds its P meanwhile (rare) */
		io_uring_submit_and_wait(&r->ring, 1);
	}
	return r;
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
	if (!r->wake_armed)
		wake_arm(r);
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
	} else {							\
		sqe = io_uring_get_sqe(&_r->ring);			\
		prep;							\
		_res = op_park(_r, sqe, &_op);				\
	}								\
	_res;								\
})

SACT_API int sact_ring_available(void)
{
	if (!getm()) {
		/* not in a run: try a ring here and now */
		int err = 0;
		struct uring *r = uring_new(&err);

		if (r)
			uring_free(r);
		return err;
	}
	return uring_err;
}

SACT_API void sact_ring_settimeout(uint64_t ns)
{
	struct m *m = getm();

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
