// SPDX-License-Identifier: GPL-2.0
/*
 * timer.c - sact_sleep_ns parks the G, not the M: the other Gs of the P run
 * during the sleep; every sleeper wakes, never early; an idle runtime waits
 * for its next timer asleep instead of spinning.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

ST_FIXTURE(timer);

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct sleep_park {
	atomic_long ticks;
	atomic_int stop;
	long c0, c1;
	int64_t slept;
};

static void ticker(void *arg)
{
	struct sleep_park *s = arg;

	while (!atomic_load(&s->stop)) {
		atomic_fetch_add(&s->ticks, 1);
		sact_yield();
	}
}

static void sleeper(void *arg)
{
	struct sleep_park *s = arg;
	int64_t t0;

	sact_go(ticker, s);
	sact_yield();
	s->c0 = atomic_load(&s->ticks);
	t0 = now_ns();
	sact_sleep_ns(20 * 1000000);
	s->slept = now_ns() - t0;
	s->c1 = atomic_load(&s->ticks);
	atomic_store(&s->stop, 1);
}

TEST_F(timer, sleep_parks_the_g)
{
	struct sleep_park s = { 0 };

	ASSERT_EQ(0, st_run(sleeper, &s));
	EXPECT_LE(20 * 1000000, s.slept);
	/* the ticker ran while the sleeper slept (on the same P if 1) */
	EXPECT_LT(s.c0, s.c1);
}

/* Many sleepers with different durations: all wake, none early. */
struct many {
	atomic_int woke, early;
	int n;
};

static void one_sleeper(void *arg)
{
	struct many *m = arg;
	static atomic_int seq;
	int i = atomic_fetch_add(&seq, 1);
	uint64_t ns = (uint64_t)((i * 7919) % 50) * 100000;	/* 0-5 ms */
	int64_t t0 = now_ns();

	sact_sleep_ns(ns);
	if (now_ns() - t0 < (int64_t)ns)
		atomic_fetch_add(&m->early, 1);
	atomic_fetch_add(&m->woke, 1);
}

static void spawn_sleepers(void *arg)
{
	struct many *m = arg;

	for (int i = 0; i < m->n; i++)
		sact_go(one_sleeper, m);
}

TEST_F(timer, many_sleepers)
{
	struct many m = { .n = ST_SANITIZED ? 200 : 2000 };

	ASSERT_EQ(0, st_run(spawn_sleepers, &m));
	EXPECT_EQ(m.n, atomic_load(&m.woke));
	EXPECT_EQ(0, atomic_load(&m.early));
}

/*
 * A lone G sleeping 200 ms: the Ms must sleep too.  Spinning Ms would use
 * about 200 ms of CPU each; a sleeping runtime uses almost none.  The bound
 * (half the sleep) is about CPU used, not elapsed time.
 */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void lone_sleeper(void *arg)
{
	double *cpu = arg;
	double c0;

	/* what sact_run started (the Ms registering with the backend,
	 * under bpf loading their slots) settles first: on a debug kernel
	 * in TCG that took 160 ms of CPU at two Ps */
	sact_sleep_ns(200 * 1000000);
	c0 = cpu_s();
	sact_sleep_ns(200 * 1000000);
	*cpu = cpu_s() - c0;
}

TEST_F(timer, idle_ms_sleep)
{
	double cpu = 1;

	ASSERT_EQ(0, st_run(lone_sleeper, &cpu));
	TH_LOG("CPU used during a 200 ms sleep: %.1f ms", cpu * 1000);
	EXPECT_LT(cpu, 0.1);
}

/*
 * A timer on a P handed off with no M to take it: one M, no standby; the
 * only M is blocked in a wrapped read, so sysmon's retake idles the P with
 * its timer armed, and the M the template makes for it must take it
 * (p->wantm), or the sleeper never wakes to write the byte the reader
 * waits for.  (Locked Gs meet the same case under every backend: see
 * locked.c.)
 */
struct handed {
	int fd[2];
};

static void sleep_then_write(void *arg)
{
	struct handed *h = arg;

	sact_sleep_ns(1000000);
	if (write(h->fd[1], "x", 1) != 1)
		abort();
}

static void read_after_arming(void *arg)
{
	struct handed *h = arg;
	char c;

	sact_go(sleep_then_write, h);
	sact_yield();		/* on one P: the sleeper arms its timer */
	if (sact_read(h->fd[0], &c, 1) != 1)
		abort();
}

TEST_F(timer, fires_on_a_p_handed_off_without_an_m)
{
	struct handed h;

	/* kmod and bpf hand a blocked M's P to a standby M only (there is
	 * none here: the P stays with the reader), none never hands it off */
	if (variant->backend != SACT_BACKEND_SYSMON)
		SKIP(return, "only sysmon hands a P off without a standby M");
	ASSERT_EQ(0, pipe(h.fd));
	ASSERT_EQ(0, st_run_standby(0, read_after_arming, &h));
	close(h.fd[0]);
	close(h.fd[1]);
}

TEST(sleep_outside_a_g)
{
	st_native_only();
	int64_t t0 = now_ns();

	sact_sleep_ns(1000000);
	EXPECT_LE(1000000, now_ns() - t0);
}

TEST_HARNESS_MAIN
