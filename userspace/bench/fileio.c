// SPDX-License-Identifier: GPL-2.0
/*
 * fileio.c - 4 KiB random pread with O_DIRECT from a file on disk, by G
 * concurrent readers; go/fileio.go is the same with (*os.File).ReadAt.
 *
 *   block    each G calls sact_pread: its M blocks in the kernel, the
 *            backend (-b) hands the P on
 *   ring     each G calls sact_ring_pread on its P's io_uring and parks
 *   pthread  a pool of min(G, -t) pthreads, each reading in a loop
 *
 * The G readers share N reads in all (each reads N/G), at offsets from a
 * per-reader xorshift.  The file must exist (scripts/bench makes it) and
 * must not be on tmpfs (O_DIRECT).  One case per process, so that the
 * harness can put every runtime in the same table; to compare the ring and
 * the blocking path by hand, alternate -m ring and -m block runs.
 *
 *	build/bench/fileio -f FILE [-m block|ring|pthread] [-b BACKEND]
 *			   [-g READERS] [-p NPROCS] [-n READS] [-t THREADS] [-c]
 *
 * -c: without O_DIRECT (reads from the page cache: no device at all), for
 * where there is no disk, e.g. the VM guest, whose only file system is its
 * initramfs in RAM (O_DIRECT there fails with EINVAL): what it measures is
 * the cost of each path per read, not a device.
 *
 * Defaults: -m block -b sysmon -g 64 -p 2 -n 20000 -t 64.  Prints:
 *   fileio mode=M backend=B gs=G ops_per_s=.. p50_us=.. p99_us=.. threads=..
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "bench.h"

#define BS	4096

static int mode = IO_BLOCK, ngs = 64, nprocs = 2, nthreads = 64;
static long nreads = 20000, nblocks;
static int fd, errs;
static int64_t *lat;		/* nreads */
static char *bufs;		/* ngs * BS, aligned */

/* Reader i: reads [i * per, (i + 1) * per) of lat. */
static void reader(void *arg)
{
	long i = (long)arg, per = nreads / ngs;
	uint64_t x = rand_seed(i);
	char *buf = bufs + i * BS;

	for (long k = i * per; k < (i + 1) * per; k++) {
		off_t off = rand_block(&x, nblocks, BS);
		int64_t t0 = now_ns();
		ssize_t r;

		r = mode == IO_RING ? sact_ring_pread(fd, buf, BS, off) :
		    mode == IO_BLOCK ? sact_pread(fd, buf, BS, off) :
				    pread(fd, buf, BS, off);
		lat[k] = now_ns() - t0;
		if (r != BS)
			__atomic_add_fetch(&errs, 1, __ATOMIC_RELAXED);
	}
}

static void top(void *arg)
{
	(void)arg;
	for (long i = 0; i < ngs; i++)
		if (sact_go(reader, (void *)i) < 0)
			abort();
}

/* Pool thread: takes readers (their share of the reads) one by one. */
static long next_reader;

static void *pool_main(void *arg)
{
	long i;

	(void)arg;
	while ((i = __atomic_fetch_add(&next_reader, 1, __ATOMIC_RELAXED)) < ngs)
		reader((void *)i);
	return NULL;
}

static int run_pool(void)
{
	int n = ngs < nthreads ? ngs : nthreads;
	pthread_t t[n];

	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, pool_main, NULL))
			return -EAGAIN;
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 2,
				 .standby = -1, .backend = SACT_BACKEND_SYSMON };
	const char *path = NULL;
	struct tsampler ts;
	struct stat st;
	int64_t t0, t1;
	int opt, err, threads, oflags = O_RDONLY | O_DIRECT;

	while ((opt = getopt(argc, argv, "f:m:b:g:p:n:t:c")) != -1) {
		switch (opt) {
		case 'f': path = optarg; break;
		case 'g': ngs = atoi(optarg); break;
		case 'p': nprocs = atoi(optarg); break;
		case 'n': nreads = atol(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		case 'c': oflags = O_RDONLY; break;
		default:
			if (!io_opt(opt, optarg, &mode, &c))
				goto usage;
		}
	}
	if (!path || ngs < 1 || nreads < ngs || nthreads < 1)
		goto usage;
	nreads -= nreads % ngs;
	c.nprocs = nprocs;
	fd = open(path, oflags);
	if (fd < 0 || fstat(fd, &st)) {
		perror(path);
		return 1;
	}
	nblocks = st.st_size / BS;
	lat = malloc(sizeof(*lat) * nreads);
	if (!nblocks || !lat ||
	    posix_memalign((void **)&bufs, BS, (size_t)ngs * BS))
		return 1;
	if (tsampler_start(&ts, 0))
		return 1;
	t0 = now_ns();
	err = mode == IO_PTHREAD ? run_pool() : sact_run(&c, top, NULL);
	t1 = now_ns();
	threads = tsampler_stop(&ts);
	if (err) {
		fprintf(stderr, "fileio: %s\n", strerror(-err));
		return 1;
	}
	if (errs) {
		fprintf(stderr, "fileio: %d reads failed\n", errs);
		return 1;
	}
	printf("fileio mode=%s backend=%s gs=%d ops_per_s=%.0f p50_us=%.1f "
	       "p99_us=%.1f threads=%d\n",
	       mode == IO_RING ? "ring" : mode == IO_BLOCK ? "block" : "pthread",
	       mode == IO_PTHREAD ? "-" : sact_backend_name(c.backend), ngs,
	       nreads / ((t1 - t0) / 1e9), quantile(lat, nreads, 0.5) / 1e3,
	       quantile(lat, nreads, 0.99) / 1e3, threads);
	return 0;
usage:
	fprintf(stderr, "usage: see the top of userspace/bench/fileio.c\n");
	return 2;
}
