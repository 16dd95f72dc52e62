// SPDX-License-Identifier: GPL-2.0
/*
 * strict.c - invariant (c): with kmod (strict mode), no more Ms run G code
 * than there are Ps, while Gs block and unblock in raw libc calls and
 * wrapped ones.  A sampler thread (not an M) reads the module's shared
 * page, found in /proc/self/maps, and counts the M slots that say "running
 * G code" (state RUNNING, set by the runtime) and are not blocked or
 * parked (kstate RUNNING, set by the module).
 *
 * One snapshot reads the slots one after the other, so it can see one M
 * before it blocked and another after it took the P over: an over-count
 * counts only when three snapshots in a row show it for the same Ms.  A
 * real breach lasts as long as both Ms run G code.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <linux/sact.h>

#include <sact.h>

#include "sact_test.h"

#define NWORK	8
#define ITERS	60

struct run {
	int nprocs, nm;
	_Atomic int stop;
	pthread_t th;
	bool started;
	_Atomic int samples, max_seen;	/* the sampler writes, Gs read */
	_Atomic bool sampler_out;	/* the sampler returned */
	int breaches, handed;
	int pfd[2];
	struct sact_waitgroup wg;
};

static char *find_shm(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	char *at = NULL;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, SACT_DEVICE)) {
			at = (char *)strtoul(line, NULL, 16);
			break;
		}
	fclose(f);
	return at;
}

static int snapshot(struct sact_mslot *ms, int nm, uint64_t *set)
{
	int n = 0;

	*set = 0;
	for (int i = 0; i < nm; i++)
		if (__atomic_load_n(&ms[i].state, __ATOMIC_RELAXED) ==
			    SACT_M_RUNNING &&
		    __atomic_load_n(&ms[i].kstate, __ATOMIC_RELAXED) ==
			    SACT_MK_RUNNING) {
			n++;
			*set |= 1ULL << i;
		}
	return n;
}

static void *sampler(void *arg)
{
	struct run *r = arg;
	char *shm = find_shm();
	struct sact_mslot *ms;
	uint64_t last = 0;
	int run = 0;

	if (!shm)
		goto out;
	ms = (void *)(shm + SACT_SHM_WORKERS_OFFSET);
	while (!atomic_load(&r->stop)) {
		uint64_t set;
		int n = snapshot(ms, r->nm, &set);

		r->samples++;
		if (n > r->max_seen)
			r->max_seen = n;
		if (n > r->nprocs && (run == 0 || set == last)) {
			if (++run == 3)
				r->breaches++;
		} else {
			run = 0;
		}
		last = set;
		sched_yield();
	}
out:
	atomic_store(&r->sampler_out, true);
	return NULL;
}

static void worker(void *arg)
{
	struct run *r = arg;
	struct timespec ts = { 0, 50000 };
	volatile unsigned long x = 0;
	char c;

	for (int i = 0; i < ITERS; i++) {
		switch (i % 4) {
		case 0:
			usleep(100);			/* raw */
			break;
		case 1:
			sact_nanosleep(&ts, NULL);	/* wrapped */
			break;
		case 2:
			if (write(r->pfd[1], "x", 1) != 1 ||
			    read(r->pfd[0], &c, 1) != 1)	/* raw */
				return;
			break;
		case 3:
			for (int k = 0; k < 50000; k++)
				x += k;
			/*
			 * A sampler that never saw an M run G code could not
			 * see a breach either: this G computes on until it
			 * has (not a matter of how fast anything runs).
			 */
			while (!atomic_load(&r->max_seen) &&
			       !atomic_load(&r->sampler_out))
				x++;
			break;
		}
	}
	sact_wg_done(&r->wg);
}

static void first(void *arg)
{
	struct run *r = arg;

	if (pthread_create(&r->th, NULL, sampler, r) != 0)
		return;
	r->started = true;
	sact_wg_add(&r->wg, NWORK);
	for (int i = 0; i < NWORK; i++)
		sact_go(worker, r);
	sact_wg_wait(&r->wg);
	while (atomic_load(&r->samples) <= 100 &&
	       !atomic_load(&r->sampler_out))
		sact_yield();		/* at least 100 snapshots, however slow */
	atomic_store(&r->stop, 1);
	pthread_join(r->th, NULL);	/* raw: a block like any other */
}

FIXTURE(strict) { int unused; };
FIXTURE_SETUP(strict) { }
FIXTURE_TEARDOWN(strict) { }
FIXTURE_VARIANT(strict) { int nprocs; enum sact_backend backend;
			  unsigned int flags; };
FIXTURE_VARIANT_ADD(strict, p1_kmod) { 1, SACT_BACKEND_KMOD };
FIXTURE_VARIANT_ADD(strict, p2_kmod) { 2, SACT_BACKEND_KMOD };
FIXTURE_VARIANT_ADD(strict, p4_kmod) { 4, SACT_BACKEND_KMOD };

TEST_F(strict, at_most_nprocs)
{
	struct run r = { .nprocs = variant->nprocs };
	struct sact_stats st = { .size = sizeof(st) };
	int standby = variant->nprocs + 1;

	st_skip_elsewhere(variant->backend);
	r.nm = variant->nprocs + standby;
	ASSERT_EQ(0, pipe(r.pfd));
	ASSERT_EQ(0, st_run_standby(standby, first, &r));
	ASSERT_TRUE(r.started);
	EXPECT_EQ(SACT_BACKEND_KMOD, sact_backend());
	EXPECT_LT(100, atomic_load(&r.samples));
	EXPECT_LE(1, atomic_load(&r.max_seen));
	EXPECT_EQ(0, r.breaches) TH_LOG("%d Ms ran G code with %d Ps",
					atomic_load(&r.max_seen), r.nprocs);
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_LE(1, st.handoffs);
	TH_LOG("samples %d, most running %d, handoffs %llu",
	       atomic_load(&r.samples), atomic_load(&r.max_seen),
	       (unsigned long long)st.handoffs);
	close(r.pfd[0]);
	close(r.pfd[1]);
}

TEST_HARNESS_MAIN
