// SPDX-License-Identifier: GPL-2.0
/*
 * handoff.c - handoff latency of libsact's backends: how long the only P
 * takes to reach another M when the running G blocks in the kernel.  The
 * same workload as userspace/bench/go/handoff.go.
 *
 * One sample, nprocs = 1: G1 makes G2 runnable, stamps the time and blocks
 * in read(2) on an empty pipe - raw for kmod and bpf (the module and the
 * sched_switch program see any block), through sact_read() for sysmon and
 * none (sysmon only sees wrapped calls).  G2's first instruction stamps the time; G2 then - on the M that
 * took the P over, another thread than G1's - fills the pipe, so G1 comes
 * back.  Latency = G2's stamp - G1's stamp (CLOCK_MONOTONIC).
 *
 *	build/bench/handoff [-b kmod|bpf|sysmon] [-n SAMPLES]
 *
 * Prints one line: backend, samples, p50/p99/p999 in microseconds, and the
 * OS threads the run created.  (none is not offered: its P never moves, so
 * G2 would never run.)  userspace/bench/bench-handoff runs it with its Go
 * peer natively and in the VM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

static int pfd[2];
static long nsamples = 10000;
static enum sact_backend backend = SACT_BACKEND_KMOD;
static int64_t *lat;
static int64_t t_enter;

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
		if ((backend == SACT_BACKEND_SYSMON ? sact_read(pfd[0], &c, 1) :
		     read(pfd[0], &c, 1)) != 1)
			abort();
	}
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 1, .standby = 1 };
	struct sact_stats st = { .size = sizeof(st) };
	int opt, err;

	while ((opt = getopt(argc, argv, "b:n:")) != -1) {
		if (opt == 'n')
			nsamples = atol(optarg);
		else if (opt == 'b' && !strcmp(optarg, "kmod"))
			backend = SACT_BACKEND_KMOD;
		else if (opt == 'b' && !strcmp(optarg, "bpf"))
			backend = SACT_BACKEND_BPF;
		else if (opt == 'b' && !strcmp(optarg, "sysmon"))
			backend = SACT_BACKEND_SYSMON;
		else {
			fprintf(stderr, "usage: %s [-b kmod|bpf|sysmon] [-n N]\n",
				argv[0]);
			return 2;
		}
	}
	if (nsamples < 1 || pipe(pfd))
		return 2;
	lat = calloc(nsamples, sizeof(*lat));
	if (!lat)
		return 1;
	c.backend = backend;
	err = sact_run(&c, g1, NULL);
	if (err) {
		fprintf(stderr, "handoff: sact_run(%s): %s\n",
			sact_backend_name(backend), strerror(-err));
		return 1;
	}
	sact_stats(&st);
	qsort(lat, nsamples, sizeof(*lat), cmp);
	printf("sact-%-8s samples %ld  p50 %.1f us  p99 %.1f us  p999 %.1f us"
	       "  threads created %llu\n", sact_backend_name(backend),
	       nsamples, lat[nsamples / 2] / 1e3, lat[nsamples * 99 / 100] / 1e3,
	       lat[nsamples * 999 / 1000] / 1e3,
	       (unsigned long long)st.threads_created);
	return 0;
}
