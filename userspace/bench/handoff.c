// SPDX-License-Identifier: GPL-2.0
/*
 * handoff.c - handoff latency of libsact's backends: how long the only P
 * takes to reach another M when the running G blocks in the kernel.  The
 * same workloads as userspace/bench/go/handoff.go.  nprocs = 1.
 *
 * -w spawn (default), one sample: G1 makes G2 runnable, stamps the time
 * and blocks in read(2) on an empty pipe.  G2's first instruction stamps
 * the time; G2 then - on the M that took the P over, another thread than
 * G1's - fills the pipe, so G1 comes back.  Latency = G2's stamp - G1's
 * stamp (CLOCK_MONOTONIC).
 *
 * -w loop, "raw loop, woken by a plain thread" (issue 21): G A loops over
 * read(2) of one byte from a pipe; a plain pthread (not an M: a timer, a
 * library's callback thread) writes that byte -t microseconds (default
 * 2000) after A said it entered the read, one byte per read; G B loops
 * over sact_yield().  A block counts as handed off when B runs while A is
 * in it; latency = B's first run in the block - A's stamp before read().
 * A blocks again at once after each wakeup: the path users' programs
 * take, which -w spawn (a G2 spawned before each block) does not.
 *
 * -c raw|wrapped: read(2) itself or sact_read() (default: raw for kmod,
 * bpf and none, which a wrapper does not help; wrapped for sysmon, which
 * sees only wrapped calls).
 *
 *	build/bench/handoff [-b kmod|bpf|sysmon|none] [-n SAMPLES]
 *			    [-w spawn|loop] [-c raw|wrapped] [-t PERIOD_US]
 *			    [-s STANDBY]
 *
 * -s: sact_config.standby (default 1: nprocs + 1 = 2 Ms).
 *
 * spawn prints one line: backend, samples, p50/p99/p999 in microseconds,
 * and the OS threads the run created (none is refused: its P never moves,
 * so G2 would never run).  loop prints one "rawloop key=value" line:
 * runtime, call, blocks, handed (B ran in the block) and handed_pct,
 * handoffs (the runtime's count of Ps moved, sact_stats) and handoff_pct,
 * p50/p99/p999 of the handed blocks, threads.  The two fractions differ
 * when an M runs G code without a P: B runs beside A, with no handoff.
 * userspace/bench/bench-handoff runs it with its Go peer natively and in
 * the VM.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#include "bench.h"

static int pfd[2];
static long nsamples = 10000;
static enum sact_backend backend = SACT_BACKEND_KMOD;
static int64_t *lat;
static int64_t t_enter;
static int wrapped = -1;	/* -c; -1: the backend's default */
static long period_us = 2000;	/* -t */

/* -w loop: A's block i (1..nsamples) while A is in it, else 0 */
static _Atomic long a_in;
static _Atomic int loop_done;
static int64_t *enter_ns;	/* A's stamp before block i - 1 */

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static ssize_t read1(char *c)
{
	return wrapped ? sact_read(pfd[0], c, 1) : read(pfd[0], c, 1);
}

static int64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void g2(void *arg)
{
	long i = (long)arg;
	char c = 'x';

	lat[i] = now() - __atomic_load_n(&t_enter, __ATOMIC_RELAXED);
	if (write(pfd[1], &c, 1) != 1)
		abort();
}

static void g1(void *arg)
{
	char c;

	(void)arg;
	for (long i = 0; i < nsamples; i++) {
		sact_go(g2, (void *)i);
		__atomic_store_n(&t_enter, now(), __ATOMIC_RELAXED);
		if (read1(&c) != 1)
			abort();
	}
}

/* -w loop: the plain thread; one byte per block of A, period_us after A
 * said it entered it (polled: the writer stays out of A's way). */
static void *writer(void *arg)
{
	long written = 0;

	(void)arg;
	while (!atomic_load(&loop_done)) {
		long i = atomic_load(&a_in);

		if (i && i != written) {
			usleep(period_us);
			if (write(pfd[1], "x", 1) != 1)
				abort();
			written = i;
		} else {
			usleep(50);
		}
	}
	return NULL;
}

static void loop_a(void *arg)
{
	char c;

	(void)arg;
	for (long i = 1; i <= nsamples; i++) {
		enter_ns[i - 1] = now();
		atomic_store(&a_in, i);
		if (read1(&c) != 1)
			abort();
		atomic_store(&a_in, 0);
	}
	atomic_store(&loop_done, 1);
}

static void loop_b(void *arg)
{
	long last = 0;

	(void)arg;
	while (!atomic_load(&loop_done)) {
		long i = atomic_load(&a_in);

		if (i && i != last) {	/* B runs while A is in block i */
			lat[i - 1] = now() - enter_ns[i - 1];
			last = i;
		}
		sact_yield();
	}
}

static void loop_first(void *arg)
{
	sact_go(loop_a, arg);
	sact_go(loop_b, arg);
}

/* -w loop: run it, print the rawloop line.  0 or 1. */
static int run_loop(struct sact_config *c)
{
	struct sact_stats st = { .size = sizeof(st) };
	pthread_t w;
	long handed = 0;
	int err;

	enter_ns = calloc(nsamples, sizeof(*enter_ns));
	if (!enter_ns)
		return 1;
	for (long i = 0; i < nsamples; i++)
		lat[i] = -1;
	if (pthread_create(&w, NULL, writer, NULL))
		return 1;
	err = sact_run(c, loop_first, NULL);
	atomic_store(&loop_done, 1);
	pthread_join(w, NULL);
	if (err)
		return bench_run_failed("handoff", backend, err);
	sact_stats(&st);
	for (long i = 0; i < nsamples; i++)
		if (lat[i] >= 0)
			lat[handed++] = lat[i];
	qsort(lat, handed, sizeof(*lat), cmp);
	printf("rawloop runtime=sact-%s call=%s blocks=%ld handed=%ld "
	       "handed_pct=%.1f handoffs=%llu handoff_pct=%.1f p50_us=%.1f "
	       "p99_us=%.1f p999_us=%.1f threads=%llu\n",
	       sact_backend_name(backend), wrapped ? "wrapped" : "raw",
	       nsamples, handed, 100.0 * handed / nsamples,
	       (unsigned long long)st.handoffs,
	       100.0 * st.handoffs / nsamples,
	       handed ? lat[handed / 2] / 1e3 : 0,
	       handed ? lat[handed * 99 / 100] / 1e3 : 0,
	       handed ? lat[handed * 999 / 1000] / 1e3 : 0,
	       (unsigned long long)st.threads_created);
	return 0;
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 1, .standby = 1 };
	struct sact_stats st = { .size = sizeof(st) };
	bool loop = false;
	int opt, err;

	while ((opt = getopt(argc, argv, "b:n:w:c:t:s:")) != -1) {
		if (opt == 'n')
			nsamples = atol(optarg);
		else if (opt == 'b' && !strcmp(optarg, "kmod"))
			backend = SACT_BACKEND_KMOD;
		else if (opt == 'b' && !strcmp(optarg, "bpf"))
			backend = SACT_BACKEND_BPF;
		else if (opt == 'b' && !strcmp(optarg, "sysmon"))
			backend = SACT_BACKEND_SYSMON;
		else if (opt == 'b' && !strcmp(optarg, "none"))
			backend = SACT_BACKEND_NONE;
		else if (opt == 'w' && !strcmp(optarg, "spawn"))
			loop = false;
		else if (opt == 'w' && !strcmp(optarg, "loop"))
			loop = true;
		else if (opt == 'c' && !strcmp(optarg, "raw"))
			wrapped = 0;
		else if (opt == 'c' && !strcmp(optarg, "wrapped"))
			wrapped = 1;
		else if (opt == 't')
			period_us = atol(optarg);
		else if (opt == 's')
			c.standby = atoi(optarg);
		else
			goto usage;
	}
	if (backend == SACT_BACKEND_NONE && !loop)
		goto usage;	/* spawn: G2 would never run */
	if (wrapped < 0)
		wrapped = backend == SACT_BACKEND_SYSMON;
	if (nsamples < 1 || period_us < 0 || pipe(pfd))
		return 2;
	lat = calloc(nsamples, sizeof(*lat));
	if (!lat)
		return 1;
	c.backend = backend;
	if (loop)
		return run_loop(&c);
	err = sact_run(&c, g1, NULL);
	if (err)
		return bench_run_failed("handoff", backend, err);
	sact_stats(&st);
	qsort(lat, nsamples, sizeof(*lat), cmp);
	printf("sact-%-8s samples %ld  p50 %.1f us  p99 %.1f us  p999 %.1f us"
	       "  threads created %llu\n", sact_backend_name(backend),
	       nsamples, lat[nsamples / 2] / 1e3, lat[nsamples * 99 / 100] / 1e3,
	       lat[nsamples * 999 / 1000] / 1e3,
	       (unsigned long long)st.threads_created);
	return 0;
usage:
	fprintf(stderr, "usage: %s [-b kmod|bpf|sysmon|none] [-n N] "
		"[-w spawn|loop] [-c raw|wrapped] [-t PERIOD_US] [-s STANDBY]\n"
		"(-w spawn: not with none)\n", argv[0]);
	return 2;
}
