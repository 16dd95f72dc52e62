// SPDX-License-Identifier: GPL-2.0
/*
 * micro.c - libsact micro benchmarks; go/micro.go is the same in Go.
 *
 *	yield	two Gs on one P yield to each other; ns per yield
 *	spawn	spawn a G that runs and exits (+ wait group done), in
 *		batches of 100 so that stacks are reused; ns per G
 *	chan	ping-pong between two Gs over two unbuffered channels; ns
 *		per round trip
 *	syscall	getppid through sact_syscall, and raw; ns per call
 *
 * Usage: micro [-p nprocs] [-n scale] [-b BACKEND]; prints "name ns/op"
 * lines (default backend: sysmon).  One P by
 * default (GOMAXPROCS=1 for the Go peer): the same work on both sides.
 * Run both side by side with userspace/bench/bench-micro.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static long scale = 1;

/* ---- yield ---- */
static long yield_n;

static void yielder(void *arg)
{
	(void)arg;
	for (long i = 0; i < yield_n; i++)
		sact_yield();
}

static void bench_yield(void *arg)
{
	double t0;

	(void)arg;
	yield_n = 2000000 * scale;
	t0 = (now_ns() / 1e9);
	sact_go(yielder, NULL);
	yielder(NULL);
	/* the other G finishes its last yield after we return: close enough
	 * (one switch in 4 million) */
	printf("yield %.1f\n", ((now_ns() / 1e9) - t0) * 1e9 / (2.0 * yield_n));
}

/* ---- spawn ---- */
static struct sact_waitgroup wg;

static void child(void *arg)
{
	(void)arg;
	sact_wg_done(&wg);
}

static void bench_spawn(void *arg)
{
	long n = 1000000 * scale;
	double t0;

	(void)arg;
	t0 = (now_ns() / 1e9);
	for (long i = 0; i < n; i += 100) {
		for (int j = 0; j < 100; j++) {
			sact_wg_add(&wg, 1);
			sact_go(child, NULL);
		}
		sact_wg_wait(&wg);
	}
	printf("spawn %.1f\n", ((now_ns() / 1e9) - t0) * 1e9 / n);
}

/* ---- chan ---- */
static struct sact_chan *ping, *pong;

static void echo(void *arg)
{
	long v;

	(void)arg;
	while (sact_chan_recv(ping, &v) == 0)
		sact_chan_send(pong, &v);
}

static void bench_chan(void *arg)
{
	long n = 1000000 * scale;
	double t0;

	(void)arg;
	ping = sact_chan_new(sizeof(long), 0);
	pong = sact_chan_new(sizeof(long), 0);
	sact_go(echo, NULL);
	t0 = (now_ns() / 1e9);
	for (long i = 0; i < n; i++) {
		long v = i;

		sact_chan_send(ping, &v);
		sact_chan_recv(pong, &v);
	}
	printf("chan %.1f\n", ((now_ns() / 1e9) - t0) * 1e9 / n);
	sact_chan_close(ping);
}

/* ---- syscall ---- */
static void bench_syscall(void *arg)
{
	long n = 1000000 * scale;
	double t0, raw, wrapped;

	(void)arg;
	/* interleave short raw and wrapped rounds and keep the fastest of
	 * each: on a shared machine the minimum is the stable estimate */
	raw = wrapped = 1e9;
	for (int round = 0; round < 40; round++) {
		double r, w;

		t0 = (now_ns() / 1e9);
		for (long i = 0; i < n / 40; i++)
			syscall(SYS_getppid);
		r = ((now_ns() / 1e9) - t0) * 1e9 / (n / 40);
		t0 = (now_ns() / 1e9);
		for (long i = 0; i < n / 40; i++)
			sact_syscall(SYS_getppid);
		w = ((now_ns() / 1e9) - t0) * 1e9 / (n / 40);
		if (r < raw)
			raw = r;
		if (w < wrapped)
			wrapped = w;
	}
	printf("syscall_raw %.1f\n", raw);
	printf("syscall_wrapped %.1f\n", wrapped);
	printf("syscall_overhead %.1f\n", wrapped - raw);
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 1,
				 .standby = -1,
				 .backend = SACT_BACKEND_SYSMON };
	void (*benches[])(void *) = { bench_yield, bench_spawn, bench_chan,
				      bench_syscall };
	int opt;

	while ((opt = getopt(argc, argv, "p:n:b:")) != -1) {
		if (opt == 'p')
			c.nprocs = atoi(optarg);
		else if (opt == 'n')
			scale = atol(optarg);
		else if (opt == 'b' && backend_of(optarg) >= 0)
			c.backend = backend_of(optarg);
		else
			return 2;
	}
	for (unsigned int i = 0; i < sizeof(benches) / sizeof(*benches); i++) {
		int err = sact_run(&c, benches[i], NULL);

		if (err) {
			fprintf(stderr, "sact_run: %d\n", err);
			return 1;
		}
		fflush(stdout);
	}
	return 0;
}
