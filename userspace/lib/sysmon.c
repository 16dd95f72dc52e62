// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysmon.c - the two backends without kernel help: sysmon (Go's) and none.
 *
 * sysmon: a monitor thread wakes every 20 us while any P is P_SYSCALL and
 * retakes a P whose syscalltick has not moved for at least one tick (its M
 * has been in the same syscall for > 20 us): CAS P_SYSCALL -> P_IDLE, then
 * handoffp() gives it to a standby M.  Go does the same in retake(), with
 * the same back-off: after 50 ticks without a retake the tick doubles, up
 * to 10 ms (see sysmon_main).  After 50 ticks with no P in a syscall at all
 * it sleeps on sched.sysmonwait until an entersyscall wakes it.
 *
 * Race we accept (racy; any error is contained and temporary): entersyscall
 * publishes P_SYSCALL with a plain store and then reads sysmonwait, with no
 * StoreLoad barrier (which would double the wrapper's cost); sysmon going to
 * sleep can miss a syscall that starts at that instant.  So its long sleep
 * is bounded to 10 ms (Go's longest sysmon delay): the worst case is a
 * retake 10 ms late, never a lost one.
 *
 * none: nothing retakes a P; an M blocked in the kernel keeps its P (the
 * naive baseline).  Other Ps may still steal the blocked P's queue.
 */
#include <time.h>

#include "internal.h"

#define SYSMON_TICK_NS	20000
#define SYSMON_IDLE_TICKS 50
#define SYSMON_SLEEP_NS	10000000

static pthread_t sysmon_thread;
static bool sysmon_running;
static _Atomic uint32_t sysmon_stop;

/*
 * Take Ps stuck in syscalls.  *insys: how many Ps were in a syscall.
 * Returns how many were retaken.
 */
static int retake(int64_t now, int *insys)
{
	int n = 0;

	*insys = 0;
	for (int i = 0; i < sched.nprocs; i++) {
		struct p *pp = &sched.allp[i];
		uint32_t t;
		int s = P_SYSCALL;

		if (ld(&pp->status) != P_SYSCALL)
			continue;
		(*insys)++;
		t = ld(&pp->syscalltick);
		if (pp->sysmon_tick != t) {
			pp->sysmon_tick = t;	/* a new syscall: note it */
			pp->sysmon_when = now;
			continue;
		}
		if (now - pp->sysmon_when < SYSMON_TICK_NS)
			continue;
		if (atomic_compare_exchange_strong(&pp->status, &s, P_IDLE)) {
			atomic_fetch_add(&sched.handoffs, 1);
			handoffp(pp);
			n++;
		}
	}
	return n;
}

/*
 * The monitor loop.  Like Go's sysmon: a 20 us tick; after 50 ticks that
 * retook nothing the delay doubles, up to 10 ms (a stream of short
 * syscalls does not keep it polling at 20 us); any retake resets it.
 * After 50 ticks that saw no P in a syscall at all it sleeps on
 * sysmonwait until an entersyscall wakes it.
 */
static void *sysmon_main(void *arg)
{
	int64_t delay = SYSMON_TICK_NS;
	int idle = 0, nosys = 0;

	(void)arg;
	while (!ld_acq(&sysmon_stop)) {
		int insys;

		if (nosys > SYSMON_IDLE_TICKS) {
			st(&sched.sysmonwait, 1);
			atomic_thread_fence(SEQCST);
			retake(nanotime(), &insys);
			if (!insys)
				futex_wait(&sched.sysmonwait, 1,
					   SYSMON_SLEEP_NS);
			/* an entersyscall that woke us cleared sysmonwait:
			 * back to the 20 us tick */
			if (atomic_exchange(&sched.sysmonwait, 0) == 0 ||
			    insys)
				idle = nosys = 0;
		} else {
			if (idle == 0)
				delay = SYSMON_TICK_NS;
			else if (idle > SYSMON_IDLE_TICKS &&
				 delay < SYSMON_SLEEP_NS)
				delay *= 2;
			futex_wait(&sysmon_stop, 0, delay);
		}
		if (retake(nanotime(), &insys))
			idle = 0;
		else
			idle++;
		nosys = insys ? 0 : nosys + 1;
	}
	return NULL;
}

static int sysmon_start(void)
{
	int err;

	st(&sysmon_stop, 0);
	err = pthread_create(&sysmon_thread, NULL, sysmon_main, NULL);
	if (err)
		return -err;
	sysmon_running = true;
	sched.threads++;
	return 0;
}

static void sysmon_stop_fn(void)
{
	if (!sysmon_running)
		return;
	sysmon_running = false;
	st_rel(&sysmon_stop, 1);
	futex_wake(&sysmon_stop, 1);
	st_rel(&sched.sysmonwait, 0);
	futex_wake(&sched.sysmonwait, 1);
	pthread_join(sysmon_thread, NULL);
}

static void sysmon_enter_syscall(struct m *m, struct p *pp)
{
	(void)m;
	(void)pp;
	if (unlikely(ld(&sched.sysmonwait))) {
		st(&sched.sysmonwait, 0);
		futex_wake(&sched.sysmonwait, 1);
	}
}

const struct backend_ops backend_sysmon = {
	.id		= SACT_BACKEND_SYSMON,
	.start		= sysmon_start,
	.stop		= sysmon_stop_fn,
	.enter_syscall	= sysmon_enter_syscall,
};

const struct backend_ops backend_none = {
	.id		= SACT_BACKEND_NONE,
};
