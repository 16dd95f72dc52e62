/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench.h - what the workload programs of userspace/bench/ share: the
 * clock, percentiles, backend names, and counting the OS threads a
 * process uses.  Header-only (each bench is one .c file linked alone).
 *
 * Results are printed as one line per case, "workload key=value ...", so
 * that scripts/bench can turn them into CSV without knowing each program.
 */
#ifndef SACT_BENCH_H
#define SACT_BENCH_H

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int bench_cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort v[0..n) and return its q-quantile (0 <= q < 1); 0 for n == 0. */
static inline int64_t quantile(int64_t *v, long n, double q)
{
	if (n <= 0)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp64);
	return v[(long)(q * n)];
}

/* The xorshift64 state of random reader i (i >= 0): distinct per reader. */
static inline uint64_t rand_seed(long i)
{
	return 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
}

/* The byte offset of the next random block of bs bytes in a file of
 * nblocks such blocks (*x: a rand_seed state, advanced). */
static inline off_t rand_block(uint64_t *x, long nblocks, long bs)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (off_t)(*x % (uint64_t)nblocks) * bs;
}

/*
 * Say that sact_run failed (err: its -errno) under backend b, as "PROG:
 * sact_run(BACKEND): ERROR" on stderr, and return 1, the exit status of
 * a bench whose runtime did not start.
 */
static inline int bench_run_failed(const char *prog, enum sact_backend b,
				   long err)
{
	fprintf(stderr, "%s: sact_run(%s): %s\n", prog, sact_backend_name(b),
		strerror((int)-err));
	return 1;
}

/*
 * The backend named s ("kmod", "bpf", "sysmon", "none", "auto"), or -1.
 * Precondition: s is not NULL.
 */
static inline int backend_of(const char *s)
{
	for (int b = SACT_BACKEND_AUTO; b <= SACT_BACKEND_NONE; b++)
		if (!strcmp(s, sact_backend_name(b)))
			return b;
	return -1;
}

/*
 * How a workload does its I/O: blocking sact calls (the backend hands the
 * P on), sact_ring_* calls (the G parks), or plain calls on pthreads.
 */
enum io_path { IO_BLOCK, IO_RING, IO_PTHREAD };

/* The path named s ("block", "ring", "pthread"), or -1. */
static inline int io_path_of(const char *s)
{
	return !strcmp(s, "block") ? IO_BLOCK : !strcmp(s, "ring") ? IO_RING :
	       !strcmp(s, "pthread") ? IO_PTHREAD : -1;
}

/*
 * The options every I/O bench takes, -m PATH (io_path_of) and -b BACKEND
 * (backend_of), for a getopt loop's default case: true if opt was one of
 * them with a good argument (stored in *mode or c->backend), false for a
 * bad argument or any other option (a usage error).
 */
static inline bool io_opt(int opt, const char *arg, int *mode,
			  struct sact_config *c)
{
	int v;

	if (opt == 'm' && (v = io_path_of(arg)) >= 0)
		*mode = v;
	else if (opt == 'b' && (v = backend_of(arg)) >= 0)
		c->backend = v;
	else
		return false;
	return true;
}

/*
 * Allow n open files (a server or client of 1024 connections; a guest's
 * default is 1024 in all).  Raises the hard limit too where allowed (root).
 */
static inline void want_files(rlim_t n)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur >= n)
		return;
	r.rlim_cur = n;
	if (r.rlim_max < n)
		r.rlim_max = n;
	if (setrlimit(RLIMIT_NOFILE, &r) && getrlimit(RLIMIT_NOFILE, &r) == 0) {
		r.rlim_cur = r.rlim_max;	/* as many as we may */
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* The number of threads of process pid (0: this one), or -1. */
static inline int count_threads(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	else
		strcpy(path, "/proc/self/task");
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * Thread sampler: a pthread that counts the threads of pid every
 * millisecond and keeps the peak.  Sampling this process, the sampler
 * leaves itself out.  A thread that lives less than a millisecond may be
 * missed; the runtimes compared here keep theirs.
 */
struct tsampler {
	pthread_t thread;
	pid_t pid;
	int peak;
	volatile int stop;
};

static void *tsampler_main(void *arg)
{
	struct tsampler *s = arg;
	const struct timespec ms = { 0, 1000000 };

	while (!s->stop) {
		int n = count_threads(s->pid) - (s->pid == 0);

		if (n > s->peak)
			s->peak = n;
		nanosleep(&ms, NULL);
	}
	return NULL;
}

/* Start sampling pid (0: this process).  0 or -errno. */
static inline int tsampler_start(struct tsampler *s, pid_t pid)
{
	s->pid = pid;
	s->peak = 0;
	s->stop = 0;
	return -pthread_create(&s->thread, NULL, tsampler_main, s);
}

/* Stop; the peak thread count seen. */
static inline int tsampler_stop(struct tsampler *s)
{
	s->stop = 1;
	pthread_join(s->thread, NULL);
	return s->peak;
}

#endif /* SACT_BENCH_H */
