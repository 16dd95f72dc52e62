// SPDX-License-Identifier: GPL-2.0
/*
 * idle.c - the idle workload's program: what a sact program costs before
 * it does anything - one G asleep, the runtime's threads parked.  The
 * figures come from outside (userspace/bench/idle-ps reads the process as
 * ps does), so nothing here adds a thread or an allocation of its own.
 * go/idle.go is the Go peer.
 *
 *	build/bench/idle [-b BACKEND] [-p NPROCS] [-s SECONDS]
 *
 * The G sleeps SECONDS (default 2) in sact_sleep_ns; nprocs -p (default
 * 2), the default standby.  Prints "idle ready" once the run is up (the
 * G is running), then exits 0 when the G wakes; 1 if the runtime does not
 * start.
 */
#include <stdio.h>

#include "bench.h"

static long secs = 2;

static void sleeper(void *arg)
{
	(void)arg;
	/* write(2), not stdio: a G's first malloc on an M other than the
	 * main thread would map a malloc arena (the arena figure is the
	 * libc workload's; this one is the runtime's own) */
	if (write(1, "idle ready\n", 11) != 11)
		return;
	sact_sleep_ns((uint64_t)secs * 1000000000);
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 2,
				 .standby = -1 };
	int opt, err, v;

	while ((opt = getopt(argc, argv, "b:p:s:")) != -1) {
		switch (opt) {
		case 'b':
			if ((v = backend_of(optarg)) < 0)
				goto usage;
			c.backend = v;
			break;
		case 'p': c.nprocs = atoi(optarg); break;
		case 's': secs = atol(optarg); break;
		default:
			goto usage;
		}
	}
	if (secs < 1 || c.nprocs < 1)
		goto usage;
	err = sact_run(&c, sleeper, NULL);
	if (err)
		return bench_run_failed("idle", c.backend, err);
	return 0;
usage:
	fprintf(stderr, "usage: see the top of userspace/bench/idle.c\n");
	return 2;
}
