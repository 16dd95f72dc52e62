// SPDX-License-Identifier: GPL-2.0
/*
 * mixed.c - CPU work next to Gs that block in the kernel: how well does a
 * runtime keep its Ps busy with the compute while other Gs block?
 * go/mixed.go is the same in Go.
 *
 * Compute: C Gs share a fixed amount of work (W million rounds of an
 * xorshift, split evenly); they yield every 2^16 rounds (libsact does not
 * preempt; Go preempts on its own), so blockers get their turn.  The
 * compute time runs from the first compute G's spawn until all of them
 * are joined.
 *
 * Blockers, K of each kind, looping until the compute is done, yielding
 * after each call:
 *   sleep   nanosleep(50 us), a blocking call (sact_nanosleep: the M
 *           sleeps, not just the G)
 *   pipe    a 1-byte read from a pipe that a writer process fills with
 *           one byte every 100 us (a separate process: its thread is not
 *           ours)
 *   fsync   pwrite 4 KiB to a small file, then fsync it (-d DIR: on disk)
 *
 * Each run does the compute alone, then with the blockers; isolation =
 * time alone / time with blockers (1.0: the blockers cost the compute
 * nothing).  "threads" is the peak number of OS threads of the process
 * (sampled every ms, the sampler left out, the main thread counted)
 * during each phase.
 *
 *	build/bench/mixed [-b kmod|bpf|sysmon|none|pthread] [-p NPROCS]
 *			  [-c COMPUTE_GS] [-w MROUNDS] [-k BLOCKERS_PER_KIND]
 *			  [-s STANDBY] [-d DIR]
 *
 * Defaults: -b sysmon -p 2 -c 4 -w 200 -k 1 -d build.  pthread: every G
 * is a pthread, the process pinned to the first NPROCS CPUs (the kernel
 * schedules them).  Prints one line:
 *   mixed backend=B nprocs=P alone_ms=.. mixed_ms=.. isolation=..
 *         threads_alone=.. threads_mixed=.. blocker_ops=..
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "bench.h"

#define PTHREAD_MODE	(-2)

static int mode = SACT_BACKEND_SYSMON;	/* a backend or PTHREAD_MODE */
static int nprocs = 2, ncompute = 4, kper = 1, standby = -1;
static long mrounds = 200;
static const char *dir = "build";
static int pipefd[2], syncfd;
static volatile int done;		/* compute finished: blockers stop */
static long blocker_ops;
static uint64_t sink;

/*
 * One spawn/join interface over sact Gs and pthreads: the compute and the
 * blockers each have a wait group (sact) or a range of threads[] (pthread).
 */
static struct sact_waitgroup compute_wg, blocker_wg;
static pthread_t threads[1024];
static void (*thread_fn[1024])(void *);
static int nthreads;

static void *thread_tramp(void *arg)
{
	void (**fn)(void *) = arg;

	(*fn)(NULL);
	return NULL;
}

static void spawn(void (*fn)(void *), struct sact_waitgroup *wg)
{
	if (mode == PTHREAD_MODE) {
		if (nthreads == 1024)
			abort();
		thread_fn[nthreads] = fn;
		if (pthread_create(&threads[nthreads], NULL, thread_tramp,
				   &thread_fn[nthreads]))
			abort();
		nthreads++;
		return;
	}
	sact_wg_add(wg, 1);
	if (sact_go(fn, NULL))
		abort();
}

static void finish(struct sact_waitgroup *wg)
{
	if (mode != PTHREAD_MODE)
		sact_wg_done(wg);
}

static void join(int from, int to, struct sact_waitgroup *wg)
{
	if (mode != PTHREAD_MODE) {
		sact_wg_wait(wg);
		return;
	}
	for (int i = from; i < to; i++)
		pthread_join(threads[i], NULL);
}

static void yield(void)
{
	if (mode == PTHREAD_MODE)
		sched_yield();
	else
		sact_yield();
}

/* ---- the compute ---- */
static int64_t t_start, t_end;

static void compute(void *arg)
{
	uint64_t x = 88172645463325252ULL, n = mrounds * 1000000 / ncompute;

	(void)arg;
	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (!(i & 0xffff))
			yield();
	}
	__atomic_add_fetch(&sink, x, __ATOMIC_RELAXED);
	finish(&compute_wg);
}

/* ---- the blockers ---- */
/* After each blocking call: count it, and let the compute run (no G is
 * preempted in libsact, and a blocked M that keeps its P - none, or no
 * free M to hand it to - would otherwise go on with the same G forever). */
static void count_op(void)
{
	__atomic_add_fetch(&blocker_ops, 1, __ATOMIC_RELAXED);
	yield();
}

static void sleeper(void *arg)
{
	const struct timespec d = { 0, 50000 };

	(void)arg;
	while (!done) {
		if (mode == PTHREAD_MODE)
			nanosleep(&d, NULL);
		else
			sact_nanosleep(&d, NULL);
		count_op();
	}
	finish(&blocker_wg);
}

static void piper(void *arg)
{
	char c;

	(void)arg;
	while (!done) {
		if ((mode == PTHREAD_MODE ? read(pipefd[0], &c, 1) :
		     sact_read(pipefd[0], &c, 1)) != 1)
			abort();
		count_op();
	}
	finish(&blocker_wg);
}

static void syncer(void *arg)
{
	static char page[4096];

	(void)arg;
	while (!done) {
		if (mode == PTHREAD_MODE ? pwrite(syncfd, page, 4096, 0) != 4096 ||
					   fsync(syncfd)
					 : sact_pwrite(syncfd, page, 4096, 0) != 4096 ||
					   sact_fsync(syncfd))
			abort();
		count_op();
	}
	finish(&blocker_wg);
}

static void top(void *arg)
{
	int nblockers = arg ? 3 * kper : 0;

	for (int k = 0; k < nblockers / 3; k++) {
		spawn(sleeper, &blocker_wg);
		spawn(piper, &blocker_wg);
		spawn(syncer, &blocker_wg);
	}
	t_start = now_ns();
	for (int i = 0; i < ncompute; i++)
		spawn(compute, &compute_wg);
	join(nblockers, nblockers + ncompute, &compute_wg);
	t_end = now_ns();
	done = 1;
	join(0, nblockers, &blocker_wg);
}

/* One phase; its compute time in ns, or -errno. */
static int64_t phase(bool with_blockers, int *threads_peak)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = nprocs,
				 .standby = standby, .backend = mode };
	struct tsampler ts;
	int err = 0;

	done = 0;
	nthreads = 0;
	if (tsampler_start(&ts, 0))
		return -EAGAIN;
	if (mode == PTHREAD_MODE)
		top(with_blockers ? &mode : NULL);
	else
		err = sact_run(&c, top, with_blockers ? &mode : NULL);
	*threads_peak = tsampler_stop(&ts);
	return err ? err : t_end - t_start;
}

/* The slow writer: one byte every 100 us until the pipe closes. */
static pid_t start_writer(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		const struct timespec d = { 0, 100000 };

		close(pipefd[0]);
		while (write(pipefd[1], "x", 1) == 1)
			nanosleep(&d, NULL);
		_exit(0);
	}
	return pid;
}

int main(int argc, char **argv)
{
	int64_t alone, mixed;
	int t_alone, t_mixed, opt;
	char path[4096];
	pid_t writer;

	while ((opt = getopt(argc, argv, "b:p:c:w:k:d:s:")) != -1) {
		switch (opt) {
		case 'b':
			mode = !strcmp(optarg, "pthread") ? PTHREAD_MODE :
							    backend_of(optarg);
			if (mode == -1)
				goto usage;
			break;
		case 'p': nprocs = atoi(optarg); break;
		case 'c': ncompute = atoi(optarg); break;
		case 'w': mrounds = atol(optarg); break;
		case 'k': kper = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 's': standby = atoi(optarg); break;
		default:
			goto usage;
		}
	}
	if (nprocs < 1 || ncompute < 1 || kper < 0 || mrounds < 1 ||
	    ncompute + 3 * kper > 1024)
		goto usage;
	if (mode == PTHREAD_MODE) {
		cpu_set_t set;

		CPU_ZERO(&set);
		for (int i = 0; i < nprocs; i++)
			CPU_SET(i, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	snprintf(path, sizeof(path), "%s/mixed-fsync.%d", dir, (int)getpid());
	syncfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (syncfd < 0 || pipe(pipefd)) {
		perror(path);
		return 1;
	}
	unlink(path);
	signal(SIGPIPE, SIG_IGN);
	writer = start_writer();
	if (writer < 0)
		return 1;
	alone = phase(false, &t_alone);
	mixed = alone < 0 ? alone : phase(true, &t_mixed);
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	if (mixed < 0)
		return bench_run_failed("mixed", mode, mixed);
	printf("mixed backend=%s nprocs=%d alone_ms=%.1f mixed_ms=%.1f "
	       "isolation=%.3f threads_alone=%d threads_mixed=%d "
	       "blocker_ops=%ld\n",
	       mode == PTHREAD_MODE ? "pthread" : sact_backend_name(mode),
	       nprocs, alone / 1e6, mixed / 1e6, (double)alone / mixed,
	       t_alone, t_mixed, blocker_ops);
	return 0;
usage:
	fprintf(stderr, "usage: see the top of userspace/bench/mixed.c\n");
	return 2;
}
