// SPDX-License-Identifier: GPL-2.0
/*
 * libclocks.c - liveness when Ms stop inside libc.  Under kmod (strict
 * mode) and bpf (lost_sig), an M back from a block whose P was handed off
 * waits for a P where its G was - inside malloc too, holding glibc's
 * arena lock.  The runtime must never need that lock to give it one:
 * neither under sched.lock (the template's allocation of an M), nor in
 * runtime code holding a P, nor to make the standby that would take a P
 * handed off with nobody standing by (pthread_create allocates).
 *
 * Many Gs at once each call what glibc serves under its locks - stdio,
 * getaddrinfo of a numeric address (malloc, no resolver), malloc of sizes
 * that grow and trim heaps (mprotect, brk, under mmap_lock contention
 * from the Ms being made) - and block in a plain usleep between, so Ms
 * come and go and blocks hand Ps off.  Every G must finish: a hang fails
 * by the harness's timeout.  The resolve benchmark (1000 getaddrinfo)
 * hung 2 runs in 5 before the fix, this test's p2_bpf 1 run in 6 (hence
 * ten runs a test).  Counts only; nothing is timed.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

#define ROUNDS	3
#define RUNS	10	/* the old hang came 1 run in 6: ten runs a test */

struct run {
	struct sact_waitgroup wg;
	_Atomic long done, failed;
};

static void worker(void *arg)
{
	struct run *r = arg;
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_flags = AI_NUMERICHOST }, *res;

	for (int i = 0; i < ROUNDS; i++) {
		size_t n = (size_t)(rand() % 256 + 1) << 10;	/* to 256 KiB */
		char line[128], *p;
		FILE *f = fopen("/proc/self/stat", "re");	/* stdio */

		if (!f || !fgets(line, sizeof(line), f))
			atomic_fetch_add(&r->failed, 1);
		if (f)
			fclose(f);
		/* numeric: nss's locks and allocations, never the machine's
		 * resolver (a chroot's may wait seconds for a DNS server) */
		if (getaddrinfo("127.0.0.1", NULL, &hints, &res) == 0)
			freeaddrinfo(res);
		else
			atomic_fetch_add(&r->failed, 1);
		p = malloc(n);
		if (p) {
			memset(p, i, n);
			/* plain, and long enough that most Gs block at
			 * once: an M each, made while others malloc */
			usleep(20000);
			free(p);
		}
	}
	atomic_fetch_add(&r->done, 1);
	sact_wg_done(&r->wg);
}

static long nworkers;

static void spawner(void *arg)
{
	struct run *r = arg;

	sact_wg_add(&r->wg, nworkers);
	for (long i = 0; i < nworkers; i++)
		if (sact_go(worker, r)) {
			atomic_fetch_add(&r->failed, 1);
			sact_wg_done(&r->wg);
		}
	sact_wg_wait(&r->wg);
}

FIXTURE(libc) { int unused; };
FIXTURE_SETUP(libc) { }
FIXTURE_TEARDOWN(libc) { }
FIXTURE_VARIANT(libc) { int nprocs; enum sact_backend backend;
			unsigned int flags; };
FIXTURE_VARIANT_ADD(libc, p2_kmod) { 2, SACT_BACKEND_KMOD };
FIXTURE_VARIANT_ADD(libc, p2_bpf) { 2, SACT_BACKEND_BPF };
FIXTURE_VARIANT_ADD(libc, p1_bpf) { 1, SACT_BACKEND_BPF };

TEST_F_TIMEOUT(libc, every_g_finishes, 300)
{
	st_skip_elsewhere(variant->backend);
	nworkers = ST_SCALE(1000);
	for (int i = 0; i < RUNS; i++) {
		struct run r = { .wg = SACT_WAITGROUP_INIT };

		ASSERT_EQ(0, st_run(spawner, &r));
		ASSERT_EQ(nworkers, atomic_load(&r.done));
		ASSERT_EQ(0, atomic_load(&r.failed));
	}
}

TEST_HARNESS_MAIN
