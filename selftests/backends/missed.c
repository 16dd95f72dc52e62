// SPDX-License-Identifier: GPL-2.0
/*
 * missed.c - no missed blocks (issue 14): with kmod or bpf, a G that calls
 * the runtime, gets control back, and then blocks in a plain read() hands
 * its P off, whatever the call was - one that switched (a yield to another
 * G, a park), or one that returned without a switch (a channel or lock
 * fast path, sact_go, a yield with nothing else to run, a wrapped call).
 * The backend sees a block only while the M says "this M runs G code"; a
 * runtime call that leaves that word clear on its way back to the G makes
 * the next plain block keep its P for its whole length.
 *
 * One P.  G1 makes the call of the variant, says so, and reads a pipe that
 * only G2 writes.  G2 sleeps in 1 ms steps (sact_sleep_ns: a timer, no G
 * of G1's making wakes it) until G1 has said so, then writes the byte.  G2
 * runs only on the P G1's M took into the kernel, so the read returns only
 * if that P was handed off.  A watchdog thread writes the byte itself after
 * 30 s, so a missed block fails the test instead of hanging it; nothing
 * else is timed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

enum call {
	NONE,		/* G1 was just switched in: the baseline */
	YIELD,		/* sact_yield, G2 asleep: nothing else to run */
	YIELD_TO,	/* sact_yield with G3 runnable: a switch and back */
	GO,		/* sact_go */
	SLEEP0,		/* sact_sleep_ns(0) */
	MUTEX,		/* uncontended lock, unlock */
	MUTEX_TRY,	/* sact_mutex_trylock, unlock */
	SEM,		/* release, acquire: both fast */
	SEM_TRY,	/* release, tryacquire */
	WG,		/* add, done, wait on zero */
	COND,		/* signal, broadcast with no waiter */
	CHAN_SEND,	/* send into a buffer with room */
	CHAN_RECV,	/* receive from a buffer with a value */
	CHAN_TRY,	/* trysend, tryrecv */
	CHAN_WAKE,	/* send to G3 parked in recv: it becomes runnable */
	CHAN_PARK,	/* recv that parks until G3 sends: a switch */
	CHAN_CLOSE,	/* close a channel G3 is parked on */
	UNLOCK_WAKE,	/* unlock with G3 parked in lock */
	SEM_WAKE,	/* release with G3 parked in acquire */
	COND_WAKE,	/* signal with G3 parked in wait */
	GO_EINVAL,	/* sact_go(NULL): an error return */
	SELECT,		/* select with a ready case */
	WRAPPED,	/* sact_read of a ready eventfd */
	SYSCALL,	/* sact_syscall(getpid) */
	LOCK_THREAD,	/* sact_lock_thread, sact_unlock_thread */
	STATS,		/* sact_stats */
};

struct run {
	enum call call;
	int pfd[2];
	int efd;
	struct sact_chan *c, *c3;
	struct sact_mutex mu;
	struct sact_sem sem;
	struct sact_cond cv;
	_Atomic int g1_in, g1_back;
	_Atomic int g1_parks, g1_holds, g3_parks;
	char got;
};

/* The kinds that need a G3; they also make G1 wait for it (wait_g3). */
static bool with_g3(enum call c)
{
	return c == YIELD_TO || c == CHAN_WAKE || c == CHAN_PARK ||
	       c == CHAN_CLOSE || c == UNLOCK_WAKE || c == SEM_WAKE ||
	       c == COND_WAKE;
}

/*
 * G3, on the same P: parks where G1's call will wake it, saying so just
 * before (one P, no preemption: it parks before G1 runs again).
 */
static void g3(void *arg)
{
	struct run *r = arg;
	long v;

	switch (r->call) {
	case YIELD_TO:	/* runnable all along: G1's yield comes here */
		while (!atomic_load(&r->g1_in))
			sact_yield();
		break;
	case CHAN_WAKE:
	case CHAN_CLOSE:
		atomic_store(&r->g3_parks, 1);
		sact_chan_recv(r->c3, &v);
		break;
	case CHAN_PARK:	/* send once G1 is parked in its recv */
		while (!atomic_load(&r->g1_parks))
			sact_yield();
		sact_chan_send(r->c3, &(long){ 3 });
		break;
	case UNLOCK_WAKE:
		while (!atomic_load(&r->g1_holds))
			sact_yield();
		atomic_store(&r->g3_parks, 1);
		sact_mutex_lock(&r->mu);
		sact_mutex_unlock(&r->mu);
		break;
	case SEM_WAKE:
		atomic_store(&r->g3_parks, 1);
		sact_sem_acquire(&r->sem);
		break;
	case COND_WAKE:
		sact_mutex_lock(&r->mu);
		atomic_store(&r->g3_parks, 1);
		sact_cond_wait(&r->cv, &r->mu);
		sact_mutex_unlock(&r->mu);
		break;
	default:
		break;
	}
}

/* G1, before its call: G3 is parked where the call wakes it. */
static void wait_g3(struct run *r)
{
	if (r->call == UNLOCK_WAKE) {
		sact_mutex_lock(&r->mu);
		atomic_store(&r->g1_holds, 1);
	}
	if (r->call == CHAN_WAKE || r->call == CHAN_CLOSE ||
	    r->call == UNLOCK_WAKE || r->call == SEM_WAKE ||
	    r->call == COND_WAKE)
		while (!atomic_load(&r->g3_parks))
			sact_yield();
}

static void noop(void *arg)
{
	(void)arg;
}

/* The call of the variant; returns 0 if it did what it should. */
static int call(struct run *r)
{
	struct sact_mutex mu = SACT_MUTEX_INIT;
	struct sact_sem s = SACT_SEM_INIT(0);
	struct sact_waitgroup wg = SACT_WAITGROUP_INIT;
	struct sact_cond cv = SACT_COND_INIT;
	struct sact_sel sel[1];
	struct sact_stats st = { .size = sizeof(st) };
	uint64_t one;
	long v = 1;

	switch (r->call) {
	case NONE:
		return 0;
	case YIELD:
	case YIELD_TO:
		sact_yield();
		return 0;
	case GO:
		return sact_go(noop, NULL);
	case SLEEP0:
		sact_sleep_ns(0);
		return 0;
	case MUTEX:
		sact_mutex_lock(&mu);
		sact_mutex_unlock(&mu);
		return 0;
	case MUTEX_TRY:
		if (sact_mutex_trylock(&mu))
			return -1;
		sact_mutex_unlock(&mu);
		return 0;
	case SEM:
		sact_sem_release(&s);
		sact_sem_acquire(&s);
		return 0;
	case SEM_TRY:
		sact_sem_release(&s);
		return sact_sem_tryacquire(&s);
	case WG:
		sact_wg_add(&wg, 1);
		sact_wg_done(&wg);
		sact_wg_wait(&wg);
		return 0;
	case COND:
		sact_cond_signal(&cv);
		sact_cond_broadcast(&cv);
		return 0;
	case CHAN_SEND:
		return sact_chan_send(r->c, &v);
	case CHAN_RECV:
		if (sact_chan_send(r->c, &v))
			return -1;
		return sact_chan_recv(r->c, &v);
	case CHAN_TRY:
		if (sact_chan_trysend(r->c, &v))
			return -1;
		return sact_chan_tryrecv(r->c, &v);
	case CHAN_WAKE:
		return sact_chan_send(r->c3, &v);
	case CHAN_PARK:
		atomic_store(&r->g1_parks, 1);
		return sact_chan_recv(r->c3, &v);
	case CHAN_CLOSE:
		return sact_chan_close(r->c3);
	case UNLOCK_WAKE:
		sact_mutex_unlock(&r->mu);
		return 0;
	case SEM_WAKE:
		sact_sem_release(&r->sem);
		return 0;
	case COND_WAKE:
		sact_mutex_lock(&r->mu);	/* G3 waits, mu is free */
		sact_cond_signal(&r->cv);
		sact_mutex_unlock(&r->mu);
		return 0;
	case GO_EINVAL:
		return sact_go(NULL, NULL) == -EINVAL ? 0 : -1;
	case SELECT:
		if (sact_chan_send(r->c, &v))
			return -1;
		sel[0] = (struct sact_sel){ .chan = r->c, .op = SACT_SEL_RECV,
					    .elem = &v };
		return sact_chan_select(sel, 1, SACT_FOREVER) == 0 ? 0 : -1;
	case WRAPPED:
		return sact_read(r->efd, &one, sizeof(one)) == sizeof(one) ?
			0 : -1;
	case SYSCALL:
		return sact_syscall(SYS_getpid) == getpid() ? 0 : -1;
	case LOCK_THREAD:
		if (sact_lock_thread())
			return -1;
		sact_unlock_thread();
		return 0;
	case STATS:
		return sact_stats(&st);
	}
	return -1;
}

static void g1(void *arg)
{
	struct run *r = arg;

	wait_g3(r);
	if (call(r))
		return;		/* g1_back stays 0: the test fails */
	atomic_store(&r->g1_in, 1);
	if (read(r->pfd[0], &r->got, 1) != 1)	/* plain: no wrapper */
		return;
	atomic_store(&r->g1_back, 1);
}

static void g2(void *arg)
{
	struct run *r = arg;

	while (!atomic_load(&r->g1_in))
		sact_sleep_ns(1000000);
	if (write(r->pfd[1], "2", 1) != 1)
		return;
}

static void first(void *arg)
{
	struct run *r = arg;

	if (with_g3(r->call))
		sact_go(g3, r);
	sact_go(g1, r);
	sact_go(g2, r);
}

FIXTURE(missed) { int unused; };
FIXTURE_SETUP(missed) { }
FIXTURE_TEARDOWN(missed) { }
FIXTURE_VARIANT(missed) { int nprocs; enum sact_backend backend;
			  unsigned int flags; enum call call; };
#define MISSED(c)							\
	FIXTURE_VARIANT_ADD(missed, kmod_##c) { 1, SACT_BACKEND_KMOD, 0, c }; \
	FIXTURE_VARIANT_ADD(missed, bpf_##c) { 1, SACT_BACKEND_BPF, 0, c }
MISSED(NONE);
MISSED(YIELD);
MISSED(YIELD_TO);
MISSED(GO);
MISSED(SLEEP0);
MISSED(MUTEX);
MISSED(MUTEX_TRY);
MISSED(SEM);
MISSED(SEM_TRY);
MISSED(WG);
MISSED(COND);
MISSED(CHAN_SEND);
MISSED(CHAN_RECV);
MISSED(CHAN_TRY);
MISSED(CHAN_WAKE);
MISSED(CHAN_PARK);
MISSED(CHAN_CLOSE);
MISSED(UNLOCK_WAKE);
MISSED(SEM_WAKE);
MISSED(COND_WAKE);
MISSED(GO_EINVAL);
MISSED(SELECT);
MISSED(WRAPPED);
MISSED(SYSCALL);
MISSED(LOCK_THREAD);
MISSED(STATS);

TEST_F(missed, plain_read_after_the_call_is_handed_off)
{
	struct run r = { .call = variant->call, .mu = SACT_MUTEX_INIT,
			 .sem = SACT_SEM_INIT(0), .cv = SACT_COND_INIT };
	struct sact_stats st = { .size = sizeof(st) };
	struct st_watchdog wd;
	int err;

	st_skip_elsewhere(variant->backend);
	ASSERT_EQ(0, pipe(r.pfd));
	r.efd = eventfd(1, EFD_CLOEXEC);
	ASSERT_LE(0, r.efd);
	r.c = sact_chan_new(sizeof(long), 4);
	r.c3 = sact_chan_new(sizeof(long), 0);
	ASSERT_NE(NULL, r.c);
	ASSERT_NE(NULL, r.c3);
	/* G1's read returns once the watchdog writes (and G2 ends) */
	ASSERT_EQ(0, st_watchdog_start(&wd, &r.g1_back, &r.g1_in, r.pfd[1]));
	err = st_run_standby(1, first, &r);
	EXPECT_FALSE(st_watchdog_stop(&wd))
		TH_LOG("the plain read kept its P: the watchdog freed it");
	ASSERT_EQ(0, err);
	EXPECT_EQ(variant->backend, sact_backend());
	EXPECT_EQ(1, atomic_load(&r.g1_back));
	EXPECT_EQ('2', r.got);
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_LE(1, st.handoffs);
	sact_chan_free(r.c);
	sact_chan_free(r.c3);
	close(r.efd);
	close(r.pfd[0]);
	close(r.pfd[1]);
}

TEST_HARNESS_MAIN
