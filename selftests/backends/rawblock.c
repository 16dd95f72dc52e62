// SPDX-License-Identifier: GPL-2.0
/*
 * rawblock.c - invariant (b): with kmod or bpf, a G blocked in a raw libc read(),
 * usleep() or poll() - no wrapper - does not stop the other Gs of its P
 * (nprocs = 1: there is no other P to run them).
 *
 * read/poll: G1 blocks on a pipe that only G2 writes, so G1 comes back
 * only if G2 ran on the P G1's M took into the kernel.  usleep: G1 sleeps
 * in a loop (raw, never entering the runtime) until G2 has run.  A
 * watchdog thread (st_watchdog) ends either after 30 s so that a broken
 * backend fails instead of hanging; no timing is asserted.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

enum how { READ, USLEEP, POLL };

struct run {
	enum how how;
	int pfd[2];
	_Atomic int g1_in, g2_ran, g2_seen_by_g1;
	int loops;
};

static void g1(void *arg)
{
	struct run *r = arg;
	struct pollfd pf = { .fd = r->pfd[0], .events = POLLIN };
	char c;

	atomic_store(&r->g1_in, 1);
	switch (r->how) {
	case READ:
		if (read(r->pfd[0], &c, 1) != 1)
			return;
		break;
	case POLL:
		if (poll(&pf, 1, -1) != 1)
			return;
		break;
	case USLEEP:
		while (!atomic_load(&r->g2_ran) && r->loops < 15000) {
			usleep(2000);
			r->loops++;
		}
		break;
	}
	atomic_store(&r->g2_seen_by_g1, atomic_load(&r->g2_ran));
}

static void g2(void *arg)
{
	struct run *r = arg;

	while (!atomic_load(&r->g1_in))
		sact_yield();
	atomic_store(&r->g2_ran, 1);
	if (r->how != USLEEP && write(r->pfd[1], "x", 1) != 1)
		return;
}

static void first(void *arg)
{
	sact_go(g1, arg);
	sact_go(g2, arg);
}

FIXTURE(rawblock) { int unused; };
FIXTURE_SETUP(rawblock) { }
FIXTURE_TEARDOWN(rawblock) { }
FIXTURE_VARIANT(rawblock) { int nprocs; enum sact_backend backend;
			    enum how how; unsigned int flags; };
FIXTURE_VARIANT_ADD(rawblock, kmod_read) { 1, SACT_BACKEND_KMOD, READ };
FIXTURE_VARIANT_ADD(rawblock, kmod_usleep) { 1, SACT_BACKEND_KMOD, USLEEP };
FIXTURE_VARIANT_ADD(rawblock, kmod_poll) { 1, SACT_BACKEND_KMOD, POLL };
FIXTURE_VARIANT_ADD(rawblock, kmod_read_nostrict)
	{ 1, SACT_BACKEND_KMOD, READ, SACT_CONFIG_NO_STRICT };
FIXTURE_VARIANT_ADD(rawblock, bpf_read) { 1, SACT_BACKEND_BPF, READ };
FIXTURE_VARIANT_ADD(rawblock, bpf_usleep) { 1, SACT_BACKEND_BPF, USLEEP };
FIXTURE_VARIANT_ADD(rawblock, bpf_poll) { 1, SACT_BACKEND_BPF, POLL };

TEST_F(rawblock, others_run)
{
	struct run r = { .how = variant->how };
	struct sact_stats st = { .size = sizeof(st) };
	struct st_watchdog wd;
	int err;

	st_skip_elsewhere(variant->backend);
	ASSERT_EQ(0, pipe(r.pfd));
	/* rescue: G1's wait ends (g2_ran), its read returns (the byte) */
	ASSERT_EQ(0, st_watchdog_start(&wd, &r.g2_seen_by_g1, &r.g2_ran,
				       r.pfd[1]));
	err = st_run_standby(1, first, &r);
	EXPECT_FALSE(st_watchdog_stop(&wd))
		TH_LOG("G1's block kept its P: the watchdog freed it");
	ASSERT_EQ(0, err);
	EXPECT_EQ(variant->backend, sact_backend());
	EXPECT_EQ(1, atomic_load(&r.g2_seen_by_g1));
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_LE(1, st.handoffs);
	close(r.pfd[0]);
	close(r.pfd[1]);
}

TEST_HARNESS_MAIN
