// SPDX-License-Identifier: GPL-2.0
/*
 * fanout.c - the fanout workload: one G spawns N short Gs (sact_go in a
 * loop), each adds its index to an atomic and exits; the spawner then
 * waits for them all (a wait group).  What it costs in time and memory
 * when Gs are made much faster than they run.  go/fanout.go is the Go
 * peer (go func in a loop, a sync.WaitGroup).
 *
 *	build/bench/fanout [-b BACKEND] [-p NPROCS] [-n N] [-w exit|park]
 *
 * N defaults to 200,000, nprocs to 2, standby to the default.  -w park:
 * each G parks on a channel after its add, until the spawner has made
 * them all and closes it: what N parked Gs cost.  Prints
 *
 *	fanout wall_ms= rss_peak_kib= minflt= gs_peak= kib_per_g=
 *	       steals= wakeups= idle_spins= switches= stacks_returned= sum_ok=
 *	       [parked_kib_per_g=]
 *
 * wall: first spawn to the last G's exit; rss_peak, minflt: getrusage of
 * the process (ru_maxrss, ru_minflt) over the whole run; gs_peak: most Gs
 * alive at once; kib_per_g = rss_peak / gs_peak; sum_ok: the atomic is
 * N(N-1)/2; parked_kib_per_g (-w park): the RSS the N parked Gs added
 * (/proc/self/statm before the first spawn and once all are parked) / N.
 * Exit 1 if the runtime does not start or the sum is wrong.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "bench.h"

static long n = 200000;
static _Atomic long sum;
static struct sact_waitgroup wg = SACT_WAITGROUP_INIT;
static int64_t wall;
static bool park;
static struct sact_chan *parkc;
static _Atomic long parked;
static long rss_before, rss_parked;

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void child(void *arg)
{
	long v;

	atomic_fetch_add_explicit(&sum, (long)(intptr_t)arg,
				  memory_order_relaxed);
	if (park) {
		atomic_fetch_add(&parked, 1);
		sact_chan_recv(parkc, &v);	/* until the close */
	}
	sact_wg_done(&wg);
}

static void spawner(void *arg)
{
	int64_t t0;

	(void)arg;
	if (park) {
		parkc = sact_chan_new(sizeof(long), 0);
		rss_before = rss_kib();
	}
	t0 = now_ns();
	sact_wg_add(&wg, n);
	for (long i = 0; i < n; i++)
		if (sact_go(child, (void *)(intptr_t)i))
			_exit(1);
	if (park) {
		while (atomic_load(&parked) < n)
			sact_yield();
		rss_parked = rss_kib();
		sact_chan_close(parkc);
	}
	sact_wg_wait(&wg);
	wall = now_ns() - t0;
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 2,
				 .standby = -1 };
	struct sact_stats st = { .size = sizeof(st) };
	struct rusage ru;
	int opt, err, v;

	while ((opt = getopt(argc, argv, "b:p:n:w:")) != -1) {
		switch (opt) {
		case 'b':
			if ((v = backend_of(optarg)) < 0)
				goto usage;
			c.backend = v;
			break;
		case 'p': c.nprocs = atoi(optarg); break;
		case 'n': n = atol(optarg); break;
		case 'w':
			if (strcmp(optarg, "exit") && strcmp(optarg, "park"))
				goto usage;
			park = !strcmp(optarg, "park");
			break;
		default:
			goto usage;
		}
	}
	if (n < 1 || c.nprocs < 1)
		goto usage;
	err = sact_run(&c, spawner, NULL);
	if (err)
		return bench_run_failed("fanout", c.backend, err);
	sact_stats(&st);
	getrusage(RUSAGE_SELF, &ru);
	printf("fanout wall_ms=%.1f rss_peak_kib=%ld minflt=%ld gs_peak=%llu "
	       "kib_per_g=%.2f steals=%llu wakeups=%llu idle_spins=%llu "
	       "switches=%llu stacks_returned=%llu sum_ok=%d",
	       wall / 1e6, ru.ru_maxrss, ru.ru_minflt,
	       (unsigned long long)st.gs_peak,
	       st.gs_peak ? (double)ru.ru_maxrss / st.gs_peak : 0.0,
	       (unsigned long long)st.steals,
	       (unsigned long long)st.wakeups,
	       (unsigned long long)st.idle_spins,
	       (unsigned long long)st.switches,
	       (unsigned long long)st.stacks_returned,
	       atomic_load(&sum) == n * (n - 1) / 2);
	if (park)
		printf(" parked_kib_per_g=%.2f",
		       (double)(rss_parked - rss_before) / n);
	printf("\n");
	return atomic_load(&sum) == n * (n - 1) / 2 ? 0 : 1;
usage:
	fprintf(stderr, "usage: see the top of userspace/bench/fanout.c\n");
	return 2;
}
