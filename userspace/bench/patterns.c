// SPDX-License-Identifier: GPL-2.0
/*
 * patterns.c - the patterns workload: three everyday ways Gs meet, each
 * beside its Go twin (go/patterns.go, the same work in Go).
 *
 *	mutex	8 Gs each take one sact_mutex 100,000 times: lock, increment
 *		a plain counter, unlock; ops = 800,000 (the counter checks
 *		mutual exclusion)
 *	chan	one G sends 1,000,000 longs 0, 1, ... through a 128-slot
 *		channel, another receives them; ops = 1,000,000 (the sum of
 *		what arrived checks the order and the count)
 *	timers	100,000 Gs each sleep 1 + i % 100 ms (sact_sleep_ns); ops =
 *		100,000; the ideal wall is 100 ms; lateness: how long after
 *		its deadline each G ran again (p50, p99, max), and how many
 *		woke before it (must be 0)
 *
 *	build/bench/patterns -w mutex|chan|timers [-b BACKEND] [-p NPROCS]
 *			     [-s SCALE]
 *
 * SCALE divides the counts (for a slow guest).  Prints
 *
 *	patterns wall_ms= ops= ns_per_op= cs= ok= parks= wakeups=
 *		 idle_spins= steals= [late_p50_us= late_p99_us= late_max_us=
 *		 early=]
 *
 * wall: the first G's start to the last one's end; cs: context switches
 * of the process over the run (getrusage: voluntary + involuntary, every
 * thread); parks, wakeups, idle_spins, steals: sact_stats(3).  Exit 1 if the
 * runtime does not start or a check fails.  userspace/bench/count-futex
 * adds the futex calls per op around the whole process.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "bench.h"

enum work { MUTEX, CHAN, TIMERS };

static enum work work;
static long scale = 1;
static long ops;
static int64_t wall;
static long cs0;
static bool ok;
static struct sact_waitgroup wg = SACT_WAITGROUP_INIT;

static long cswitches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

/* ---- mutex ---- */
#define MU_GS	8
static struct sact_mutex mu = SACT_MUTEX_INIT;
static long mu_count, mu_per;

static void mu_worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < mu_per; i++) {
		sact_mutex_lock(&mu);
		mu_count++;
		sact_mutex_unlock(&mu);
	}
	sact_wg_done(&wg);
}

static void run_mutex(void)
{
	mu_per = 100000 / scale;
	ops = MU_GS * mu_per;
	sact_wg_add(&wg, MU_GS);
	for (int i = 0; i < MU_GS; i++)
		if (sact_go(mu_worker, NULL))
			_exit(1);
	sact_wg_wait(&wg);
	ok = mu_count == ops;
}

/* ---- chan ---- */
static struct sact_chan *ch;

static void ch_producer(void *arg)
{
	(void)arg;
	for (long v = 0; v < ops; v++)
		sact_chan_send(ch, &v);
	sact_chan_close(ch);
}

static void run_chan(void)
{
	long v, sum = 0, got = 0;

	ops = 1000000 / scale;
	ch = sact_chan_new(sizeof(long), 128);
	if (!ch || sact_go(ch_producer, NULL))
		_exit(1);
	while (sact_chan_recv(ch, &v) == 0) {
		sum += v;
		got++;
	}
	ok = got == ops && sum == ops * (ops - 1) / 2;
	sact_chan_free(ch);
}

/* ---- timers ---- */
static int64_t *late;		/* ns after the deadline, per G */
static _Atomic long early;

static void sleeper(void *arg)
{
	long i = (long)(intptr_t)arg;
	int64_t d = (1 + i % 100) * 1000000LL, t0 = now_ns();

	sact_sleep_ns(d);
	late[i] = now_ns() - (t0 + d);
	if (late[i] < 0)
		atomic_fetch_add(&early, 1);
	sact_wg_done(&wg);
}

static void run_timers(void)
{
	ops = 100000 / scale;
	late = calloc(ops, sizeof(*late));
	if (!late)
		_exit(1);
	sact_wg_add(&wg, ops);
	for (long i = 0; i < ops; i++)
		if (sact_go(sleeper, (void *)(intptr_t)i))
			_exit(1);
	sact_wg_wait(&wg);
	ok = atomic_load(&early) == 0;
}

static void body(void *arg)
{
	int64_t t0;

	(void)arg;
	cs0 = cswitches();
	t0 = now_ns();
	switch (work) {
	case MUTEX: run_mutex(); break;
	case CHAN: run_chan(); break;
	case TIMERS: run_timers(); break;
	}
	wall = now_ns() - t0;
	cs0 = cswitches() - cs0;
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 2,
				 .standby = -1 };
	struct sact_stats st = { .size = sizeof(st) };
	int opt, err, v;
	const char *w = NULL;

	while ((opt = getopt(argc, argv, "w:b:p:s:")) != -1) {
		switch (opt) {
		case 'w': w = optarg; break;
		case 'b':
			if ((v = backend_of(optarg)) < 0)
				goto usage;
			c.backend = v;
			break;
		case 'p': c.nprocs = atoi(optarg); break;
		case 's': scale = atol(optarg); break;
		default: goto usage;
		}
	}
	if (!w || c.nprocs < 1 || scale < 1 || scale > 1000)
		goto usage;
	if (!strcmp(w, "mutex"))
		work = MUTEX;
	else if (!strcmp(w, "chan"))
		work = CHAN;
	else if (!strcmp(w, "timers"))
		work = TIMERS;
	else
		goto usage;
	err = sact_run(&c, body, NULL);
	if (err)
		return bench_run_failed("patterns", c.backend, err);
	sact_stats(&st);
	printf("patterns wall_ms=%.1f ops=%ld ns_per_op=%.1f cs=%ld ok=%d "
	       "parks=%llu wakeups=%llu idle_spins=%llu steals=%llu",
	       wall / 1e6, ops, (double)wall / ops, cs0, ok,
	       (unsigned long long)st.parks,
	       (unsigned long long)st.wakeups,
	       (unsigned long long)st.idle_spins,
	       (unsigned long long)st.steals);
	if (work == TIMERS) {
		int64_t max = 0;

		for (long i = 0; i < ops; i++)
			max = late[i] > max ? late[i] : max;
		printf(" late_p50_us=%.1f late_p99_us=%.1f late_max_us=%.1f "
		       "early=%ld", quantile(late, ops, 0.5) / 1e3,
		       quantile(late, ops, 0.99) / 1e3, max / 1e3,
		       atomic_load(&early));
	}
	printf("\n");
	return ok ? 0 : 1;
usage:
	fprintf(stderr, "usage: see the top of userspace/bench/patterns.c\n");
	return 2;
}
