// SPDX-License-Identifier: GPL-2.0
/*
 * stress.c - many Gs: 100,000 parked at once (more than vm.max_map_count
 * / 2 allows with one guarded mapping per stack) and 1,000,000 spawned in
 * total, with exact counts; reports the RSS per parked G.  Sanitized builds
 * use a tenth (TSan: a hundredth) of the counts.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

#if defined(__SANITIZE_THREAD__)
#define ALIVE_N	1000
#define TOTAL_N	10000
#elif defined(__SANITIZE_ADDRESS__)
#define ALIVE_N	10000
#define TOTAL_N	100000
#else
#define ALIVE_N	100000
#define TOTAL_N	1000000
#endif
/* the VM has 2 GB: a tenth there (64 KiB stacks: 100k parked Gs need 6 GB
 * of address space and about 1 GB of touched pages) */
#define ALIVE	(st_in_vm() ? ALIVE_N / 10 : ALIVE_N)
#define TOTAL	(st_in_vm() ? TOTAL_N / 10 : TOTAL_N)

ST_FIXTURE(stress);

struct st {
	struct sact_waitgroup gate, parked, exited;
	atomic_long ran, after_gate;
	long rss_before, rss_parked;
	int go_errs;
};

static long rss_kib(void)
{
	long size, rss;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void parked_g(void *arg)
{
	struct st *s = arg;

	atomic_fetch_add(&s->ran, 1);
	sact_wg_done(&s->parked);
	sact_wg_wait(&s->gate);		/* parked until the gate opens */
	atomic_fetch_add(&s->after_gate, 1);
	sact_wg_done(&s->exited);
}

static void short_g(void *arg)
{
	struct st *s = arg;

	atomic_fetch_add(&s->ran, 1);
	sact_wg_done(&s->exited);
}

static void stress_main(void *arg)
{
	struct st *s = arg;
	long spawned = 0;

	s->rss_before = rss_kib();
	sact_wg_add(&s->gate, 1);
	sact_wg_add(&s->parked, ALIVE);
	sact_wg_add(&s->exited, ALIVE);
	for (long i = 0; i < ALIVE; i++, spawned++)
		if (sact_go(parked_g, s))
			s->go_errs++;
	sact_wg_wait(&s->parked);	/* all ALIVE are parked now */
	s->rss_parked = rss_kib();
	sact_wg_done(&s->gate);
	sact_wg_wait(&s->exited);
	/* the rest in batches, reusing the stacks */
	while (spawned < TOTAL) {
		/* TSan: a fiber per G, 8128 at most */
		long batch = TOTAL - spawned < ALIVE ? TOTAL - spawned : ALIVE;

		sact_wg_add(&s->exited, batch);
		for (long i = 0; i < batch; i++, spawned++)
			if (sact_go(short_g, s))
				s->go_errs++;
		sact_wg_wait(&s->exited);
	}
}

TEST_F(stress, million_gs_100k_parked)
{
	struct st s = { 0 };
	struct sact_stats stats = { .size = sizeof(stats) };

	ASSERT_EQ(0, st_run(stress_main, &s));
	EXPECT_EQ(0, s.go_errs);
	EXPECT_EQ(TOTAL, atomic_load(&s.ran));
	EXPECT_EQ(ALIVE, atomic_load(&s.after_gate));
	ASSERT_EQ(0, sact_stats(&stats));
	EXPECT_EQ(TOTAL + 1, stats.gs_spawned);
	EXPECT_LE(ALIVE, stats.gs_peak);
	TH_LOG("%d parked Gs: RSS %ld KiB -> %ld KiB, %.1f KiB per parked G; "
	       "peak %llu Gs, %llu switches, %llu steals, %llu parks",
	       ALIVE, s.rss_before, s.rss_parked,
	       (double)(s.rss_parked - s.rss_before) / ALIVE,
	       (unsigned long long)stats.gs_peak,
	       (unsigned long long)stats.switches,
	       (unsigned long long)stats.steals,
	       (unsigned long long)stats.parks);
}

TEST_HARNESS_MAIN
