// SPDX-License-Identifier: GPL-2.0
/*
 * threads.c - invariant (a): the runtime never has more OS threads than
 * nprocs + standby + 1 (the 1: sysmon's monitor; kmod and bpf have none,
 * so for them the bound is nprocs + standby),
 * whatever its Gs do: here they block in raw usleep(), in wrapped
 * nanosleep(), compute and yield, while a G counts /proc/self/status's
 * Threads: (minus the main thread, which only waits in sact_run).
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

#define NWORK	8
#define ITERS	40

struct run {
	_Atomic int done;
	int max_threads;
	int samples;
	struct sact_waitgroup wg;
};

static int count_threads(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "\nThreads:");
	return p ? atoi(p + 9) : -1;
}

static void worker(void *arg)
{
	struct run *r = arg;
	struct timespec ts = { 0, 100000 };
	volatile unsigned long x = 0;

	for (int i = 0; i < ITERS; i++) {
		switch (i % 4) {
		case 0:
			usleep(200);			/* raw: no wrapper */
			break;
		case 1:
			sact_nanosleep(&ts, NULL);	/* wrapped */
			break;
		case 2:
			for (int k = 0; k < 20000; k++)
				x += k;
			break;
		case 3:
			sact_yield();
			break;
		}
	}
	sact_wg_done(&r->wg);
}

static void sampler(void *arg)
{
	struct run *r = arg;

	while (!atomic_load(&r->done)) {
		int n = count_threads() - 1;	/* not the main thread */

		if (n > r->max_threads)
			r->max_threads = n;
		r->samples++;
		sact_sleep_ns(100000);
	}
}

static void first(void *arg)
{
	struct run *r = arg;

	sact_wg_add(&r->wg, NWORK);
	for (int i = 0; i < NWORK; i++)
		sact_go(worker, r);
	sact_go(sampler, r);
	sact_wg_wait(&r->wg);
	atomic_store(&r->done, 1);
}

ST_FIXTURE_NOSTRICT(threads);

TEST_F(threads, bounded)
{
	struct run r = { 0 };
	struct sact_stats st = { .size = sizeof(st) };
	int standby = variant->nprocs;
	int bound = variant->nprocs + standby +
		    (variant->backend == SACT_BACKEND_SYSMON);

	ASSERT_EQ(0, st_run_standby(standby, first, &r));
	EXPECT_EQ(variant->backend, sact_backend());
	EXPECT_LT(0, r.samples);
	EXPECT_LE(r.max_threads, bound)
		TH_LOG("%d threads with nprocs %d standby %d", r.max_threads,
		       variant->nprocs, standby);
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_LE(st.threads_created, bound);
}

TEST_HARNESS_MAIN
