// SPDX-License-Identifier: GPL-2.0
/*
 * uring_pread.c - 4 KiB random pread with O_DIRECT from a file on disk:
 * the ring path (sact_ring_pread: the G parks, the M goes on) against the
 * blocking path (sact_pread: the M blocks in the kernel and the backend
 * hands its P away), same Gs, same offsets, one run after the other.
 *
 * Usage: uring_pread [-b sysmon|none|kmod|bpf|auto] [-m ring|block|both]
 *                    [-g Gs] [-p nprocs] [-n reads per G] [-r rounds]
 *                    [-f file] [-s size MiB] [-c]
 * Defaults: -b sysmon -m both -g 64 -p 2 -n 500 -r 3
 * -f build/uring_pread.dat -s 256 (created, written and fsynced if it is
 * missing or short; it must not be on tmpfs: O_DIRECT).  Prints one line
 * per mode and round: ops/s, p50 and p99 latency of one read (µs).
 * -c: without O_DIRECT (reads from the page cache: no device at all),
 * for where there is no disk, e.g. the VM guest, whose only file system
 * is its initramfs in RAM (O_DIRECT there fails with EINVAL): what it
 * measures is the cost of each path per read, not a device.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "bench.h"

#define BS	4096

static int fd, ngs = 64, nprocs = 2, nper = 500;
static long nblocks;
static bool ring_mode;
static enum sact_backend backend = SACT_BACKEND_SYSMON;
static int64_t *lat;		/* ngs * nper */
static char *bufs;		/* ngs * BS, 4 KiB aligned */
static int errs;

static void reader(void *arg)
{
	long i = (long)arg;
	uint64_t x = rand_seed(i);
	char *buf = bufs + i * BS;

	for (int k = 0; k < nper; k++) {
		off_t off = rand_block(&x, nblocks, BS);
		int64_t t0 = now_ns();
		ssize_t r;

		r = ring_mode ? sact_ring_pread(fd, buf, BS, off)
			      : sact_pread(fd, buf, BS, off);
		lat[i * nper + k] = now_ns() - t0;
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

static int one(bool ring)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = nprocs,
				 .standby = -1, .backend = backend };
	long n = (long)ngs * nper;
	int64_t t0, t1;
	int err;

	ring_mode = ring;
	errs = 0;
	t0 = now_ns();
	err = sact_run(&c, top, NULL);
	t1 = now_ns();
	if (err < 0) {
		fprintf(stderr, "sact_run: %s\n", strerror(-err));
		return err;
	}
	if (errs) {
		fprintf(stderr, "%d reads failed (io_uring: %s)\n", errs,
			sact_ring_available() ? "unavailable" : "ok");
		return -EIO;
	}
	printf("%-5s %-6s Gs %d nprocs %d: %8.0f ops/s  p50 %7.1f us  p99 %7.1f us\n",
	       ring ? "ring" : "block", sact_backend_name(sact_backend()),
	       ngs, nprocs, n / ((t1 - t0) / 1e9), quantile(lat, n, 0.5) / 1e3,
	       quantile(lat, n, 0.99) / 1e3);
	return 0;
}

static int make_file(const char *path, long mib)
{
	struct stat stt;
	struct statfs sfs;
	char *chunk;
	int wfd;

	if (stat(path, &stt) == 0 && stt.st_size >= mib << 20)
		return 0;
	wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (wfd < 0)
		return -errno;
	if (fstatfs(wfd, &sfs) == 0 && sfs.f_type == 0x01021994)
		fprintf(stderr, "warning: %s is on tmpfs\n", path);
	chunk = malloc(1 << 20);
	for (int i = 0; i < (1 << 20); i++)
		chunk[i] = (char)(i * 13);
	for (long i = 0; i < mib; i++)
		if (write(wfd, chunk, 1 << 20) != 1 << 20)
			return -EIO;
	fsync(wfd);
	close(wfd);
	free(chunk);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = "build/uring_pread.dat", *mode = "both";
	long mib = 256;
	int rounds = 3, opt, oflags = O_RDONLY | O_DIRECT;

	while ((opt = getopt(argc, argv, "b:m:g:p:n:r:f:s:c")) != -1) {
		switch (opt) {
		case 'b':
			backend = backend_of(optarg);
			if ((int)backend < 0)
				goto usage;
			break;
		case 'm': mode = optarg; break;
		case 'g': ngs = atoi(optarg); break;
		case 'p': nprocs = atoi(optarg); break;
		case 'n': nper = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'f': path = optarg; break;
		case 's': mib = atol(optarg); break;
		case 'c': oflags = O_RDONLY; break;
		default:
			goto usage;
		}
	}
	if (strcmp(mode, "ring") && strcmp(mode, "block") &&
	    strcmp(mode, "both"))
		goto usage;
	if (make_file(path, mib) < 0) {
		fprintf(stderr, "cannot create %s\n", path);
		return 1;
	}
	fd = open(path, oflags);
	if (fd < 0) {
		perror(oflags & O_DIRECT ? "open O_DIRECT" : "open");
		return 1;
	}
	nblocks = (mib << 20) / BS;
	lat = malloc(sizeof(*lat) * ngs * nper);
	if (posix_memalign((void **)&bufs, BS, (size_t)ngs * BS) || !lat)
		return 1;
	/* alternate the two paths, so that load on the machine hits both */
	for (int r = 0; r < rounds; r++) {
		if (strcmp(mode, "block") && one(true) < 0)
			return 1;
		if (strcmp(mode, "ring") && one(false) < 0)
			return 1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: see the top of uring_pread.c\n");
	return 2;
}
