// SPDX-License-Identifier: GPL-2.0
/*
 * threads.c - the thread rule: Ms grow only when the standby reserve runs
 * out.  sact_run makes nprocs + standby Ms, plus the template thread (and
 * sysmon's monitor); the template makes more only when fewer than one M is
 * left idle.  So while fewer Gs block in the kernel at once than the
 * reserve covers, the count never grows, whatever the Gs do.  bpf keeps
 * nprocs of the reserve in the Ps' rings and refills a ring from the
 * idle list (or asks the template when that is empty), so the reserve
 * covers standby - nprocs - 1 blocks there, standby - 1 elsewhere.  And
 * under bpf an M back from a raw block whose P was taken runs its G on
 * until the G's next runtime entry (m_lost_p) before it rejoins the
 * reserve: while a loaded machine keeps it there, a ring refill may drain
 * the idle list and the template replace it - off the handoff path, one
 * M per G that blocked at most.  Here
 * nprocs Gs block in raw usleep() and wrapped nanosleep(), compute and
 * yield, with standby = 2 * nprocs + 1, while a G
 * counts /proc/self/status's Threads: (minus the main thread, which only
 * waits in sact_run).  The growth itself is tested in liveness.c.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

#define ITERS	40

struct run {
	int nwork;
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

	sact_wg_add(&r->wg, r->nwork);
	for (int i = 0; i < r->nwork; i++)
		sact_go(worker, r);
	sact_go(sampler, r);
	sact_wg_wait(&r->wg);
	atomic_store(&r->done, 1);
}

ST_FIXTURE_NOSTRICT(threads);

TEST_F(threads, bounded)
{
	struct run r = { .nwork = variant->nprocs };
	struct sact_stats st = { .size = sizeof(st) };
	int standby = 2 * variant->nprocs + 1;
	int late = variant->backend == SACT_BACKEND_BPF ? r.nwork : 0;
	int bound = variant->nprocs + standby + 1 + late +
		    (variant->backend == SACT_BACKEND_SYSMON);

	ASSERT_EQ(0, st_run_standby(standby, first, &r));
	EXPECT_EQ(variant->backend, sact_backend());
	EXPECT_LT(0, r.samples);
	EXPECT_LE(r.max_threads, bound)
		TH_LOG("%d threads with nprocs %d standby %d", r.max_threads,
		       variant->nprocs, standby);
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_LE(st.threads_created, bound);
	EXPECT_LE(variant->nprocs + standby, st.ms_created);
	EXPECT_GE(variant->nprocs + standby + late, st.ms_created);
}

TEST_HARNESS_MAIN
