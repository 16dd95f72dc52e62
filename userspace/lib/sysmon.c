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
 * Raw blocks (a plain libc read, usleep, getaddrinfo: no wrapper, so the P
 * stays P_RUNNING): a P whose schedtick has not moved for SYSMON_RAW_NS
 * (10 ms, Go's forcePreemptNS) while the M holding it runs G code
 * (m->gcode) and its thread sleeps in the kernel (state S or D in
 * /proc/self/task/TID/stat) is retaken: CAS m->gcode GCODE(p) ->
 * GCODE_TAKEN, then handoffp.  The CAS pairs with the M's xchg at its
 * next runtime entry (m_resync), so exactly one of them decides: the M
 * finds its P gone (m_lost_p) or sysmon finds it back in the runtime.  The
 * probe reads one small file, and only for Ps stalled that long: its cost
 * follows the stalled Ps, not the number of Gs.  Like bpf, the M whose P
 * was retaken runs its G on without a P until the G's next runtime entry.
 *
 * none: nothing retakes a P; an M blocked in the kernel keeps its P (the
 * naive baseline).  Other Ps may still steal the blocked P's queue.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SYSMON_TICK_NS	20000
#define SYSMON_IDLE_TICKS 50
#define SYSMON_SLEEP_NS	10000000
#define SYSMON_RAW_NS	10000000

static pthread_t sysmon_thread;
static bool sysmon_running;
static _Atomic uint32_t sysmon_stop;

/* Does thread tid of this process sleep in the kernel (state S or D)? */
static bool thread_sleeps(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	p = strrchr(buf, ')');		/* comm may hold spaces */
	return p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

/*
 * pp is P_RUNNING: retake it if its M has slept in a raw block for
 * SYSMON_RAW_NS with pp's schedtick stalled (see the top).
 */
static bool retake_raw(struct p *pp, int64_t now)
{
	uint32_t t = ld(&pp->schedtick), want;
	struct m *m;

	if (pp->sysmon_schedtick != t || !pp->sysmon_schedwhen) {
		pp->sysmon_schedtick = t;
		pp->sysmon_schedwhen = now;
		return false;
	}
	if (now - pp->sysmon_schedwhen < SYSMON_RAW_NS)
		return false;
	m = ld_acq(&pp->gm);	/* pairs with m_back_to_g: m->tid too */
	want = GCODE(pp);
	if (!m || ld(&m->gcode) != want || !thread_sleeps(m->tid))
		return false;
	if (!atomic_compare_exchange_strong_explicit(&m->gcode, &want,
						     GCODE_TAKEN, ACQUIRE,
						     RELAXED))
		return false;	/* it came back to the runtime first */
	/* pp is ours: its M will not touch it again (m_lost_p) */
	pp->sysmon_schedwhen = 0;
	st(&pp->status, P_IDLE);
	atomic_fetch_add(&sched.handoffs, 1);
	handoffp(pp);
	return true;
}

/*
 * Take Ps stuck in syscalls, wrapped or raw.  *insys: how many Ps were in
 * a wrapped syscall.  Returns how many were retaken.
 */
static int retake(int64_t now, int *insys)
{
	int n = 0;

	*insys = 0;
	for (int i = 0; i < sched.nprocs; i++) {
		struct p *pp = &sched.allp[i];
		uint32_t t;
		int s = P_SYSCALL;

		if (ld(&pp->status) == P_RUNNING) {
			n += retake_raw(pp, now);
			continue;
		}
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

static int sysmon_init(void)
{
	sched_watch_gcode = true;	/* see "Raw blocks" at the top */
	return 0;
}

static int sysmon_start(void)
{
	int err;

	st(&sysmon_stop, 0);
	lock_acquire(&sched.lock);	/* the template counts too */
	sched.threads++;
	lock_release(&sched.lock);
	err = runtime_thread_start(&sysmon_thread, sysmon_main, NULL);
	if (err) {
		lock_acquire(&sched.lock);
		sched.threads--;
		lock_release(&sched.lock);
		return err;
	}
	sysmon_running = true;
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
	.init		= sysmon_init,
	.start		= sysmon_start,
	.stop		= sysmon_stop_fn,
	.enter_syscall	= sysmon_enter_syscall,
};

const struct backend_ops backend_none = {
	.id		= SACT_BACKEND_NONE,
};
