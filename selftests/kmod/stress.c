// SPDX-License-Identifier: GPL-2.0
/*
 * stress.c - 100k blocks through the module (20k on the debug kernel),
 * counters that add up exactly.
 *
 * NPAIRS workers (M i holds P i) each block `rounds' times in a futex wait;
 * each has a waker thread that waits for the module to publish the block
 * before it wakes the worker, so every round is exactly one block.  Two
 * standbys re-park after every handoff they get.  At the end: blocks ==
 * unblocks == handoffs == NPAIRS * rounds, upcalls == handoffs the standbys
 * saw, per-M slots agree.
 */
#include <pthread.h>
#include <signal.h>

#include "sact_test.h"
#include "kmod_util.h"

#define NPAIRS		4
/* NPAIRS * rounds = 100k blocks; 20k on the debug tier's kernel (the
 * strict run took over the 300 s hang guard there under KASAN) */
static int rounds;
#define NSTANDBY	2

static struct kgroup G;
static atomic_int stop_standbys;
static int strict;

struct pair {
	uint32_t m;
	uint32_t go;
	int failed;
	pthread_t w, k;
};

static void *worker(void *p)
{
	struct pair *pr = p;
	uint32_t r;

	if (kg_register(&G, pr->m)) {
		pr->failed = 1;
		return NULL;
	}
	for (r = 1; r <= rounds; r++) {
		kg_force(&G, pr->m, pr->m);	/* take our P back */
		kg_running(&G, pr->m, pr->m);
		while (__atomic_load_n(&pr->go, __ATOMIC_ACQUIRE) < r)
			kt_futex(&pr->go, FUTEX_WAIT_PRIVATE, r - 1);
		kg_idle(&G, pr->m);
	}
	kg_unregister(&G, pr->m);
	return NULL;
}

static void *waker(void *p)
{
	struct pair *pr = p;
	uint64_t end = kt_now_ns() + 10 * KT_WAIT_NS;
	uint32_t r, spins = 0;

	for (r = 1; r <= rounds; r++) {
		while (kg_load(&G.ms[pr->m].blocks) < r) {
			sched_yield();
			if (!(++spins & 1023) && kt_now_ns() > end) {
				pr->failed = 2;
				return NULL;
			}
		}
		__atomic_store_n(&pr->go, r, __ATOMIC_RELEASE);
		kt_futex(&pr->go, FUTEX_WAKE_PRIVATE, 1);
	}
	return NULL;
}

struct standby {
	uint32_t m;
	uint64_t got, granted;
	int bad;
	pthread_t t;
};

static void *standby_main(void *p)
{
	struct standby *s = p;
	int ret;

	if (kg_register(&G, s->m)) {
		s->bad = 1;
		return NULL;
	}
	while (!atomic_load(&stop_standbys)) {
		ret = kg_standby(&G);
		if (ret >= 0) {
			s->got++;
			/* strict: P i belongs to worker i, which waits: give it back */
			if (strict && !kg_grant(&G, ret, ret))
				s->granted++;
		} else if (ret != -EINTR) {
			s->bad = ret;
		}
	}
	return NULL;
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

FIXTURE(stress) {
	int unused;
};

FIXTURE_VARIANT(stress) {
	int strict;
};

FIXTURE_VARIANT_ADD(stress, plain) {
	.strict = 0,
};

/* every unblock is a grant from the standby that got the P, or a reclaim */
FIXTURE_VARIANT_ADD(stress, strict) {
	.strict = 1,
};

FIXTURE_SETUP(stress)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	int fd;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, kg_open(&G));
	strict = variant->strict;
	rounds = kt_debug_kernel() ? 5000 : 25000;
	ASSERT_EQ(0, kg_config(&G, strict ? SACT_CONFIG_STRICT : 0, NPAIRS));
}

FIXTURE_TEARDOWN(stress)
{
	kg_close(&G);
}

TEST_F(stress, blocks_100k)
{
	static struct pair pairs[NPAIRS];
	static struct standby sbs[NSTANDBY];
	struct sact_counters c;
	uint64_t got = 0, granted = 0, slot_blocks = 0, slot_unblocks = 0;
	uint64_t t0 = kt_now_ns();
	int i;

	for (i = 0; i < NSTANDBY; i++) {
		sbs[i].m = NPAIRS + i;
		ASSERT_EQ(0, pthread_create(&sbs[i].t, NULL, standby_main,
					    &sbs[i]));
	}
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(&G, standbys) == NSTANDBY));
	for (i = 0; i < NPAIRS; i++) {
		pairs[i].m = i;
		ASSERT_EQ(0, pthread_create(&pairs[i].w, NULL, worker,
					    &pairs[i]));
		ASSERT_EQ(0, pthread_create(&pairs[i].k, NULL, waker,
					    &pairs[i]));
	}
	for (i = 0; i < NPAIRS; i++) {
		ASSERT_EQ(0, pthread_join(pairs[i].w, NULL));
		ASSERT_EQ(0, pthread_join(pairs[i].k, NULL));
		EXPECT_EQ(0, pairs[i].failed);
		slot_blocks += G.ms[i].blocks;
		slot_unblocks += G.ms[i].unblocks;
	}
	atomic_store(&stop_standbys, 1);
	for (i = 0; i < NSTANDBY; i++) {
		/* signal until it has left the module */
		while (pthread_tryjoin_np(sbs[i].t, NULL)) {
			pthread_kill(sbs[i].t, SIGUSR1);
			usleep(1000);
		}
		EXPECT_EQ(0, sbs[i].bad);
		got += sbs[i].got;
		granted += sbs[i].granted;
	}

	c = kg_counters(&G);
	TH_LOG("%llu blocks in %.1f s; upcalls %llu, "
	       "strict parks %llu, grants %llu, reclaims %llu",
	       (unsigned long long)c.blocks, (kt_now_ns() - t0) / 1e9,
	       (unsigned long long)c.upcalls,
	       (unsigned long long)c.strict_parks,
	       (unsigned long long)c.grants, (unsigned long long)c.reclaims);
	EXPECT_EQ(NPAIRS * rounds, c.blocks);
	EXPECT_EQ(NPAIRS * rounds, c.unblocks);
	EXPECT_EQ(NPAIRS * rounds, c.handoffs);
	EXPECT_EQ(NPAIRS * rounds, slot_blocks);
	EXPECT_EQ(NPAIRS * rounds, slot_unblocks);
	EXPECT_EQ(got, c.upcalls);
	EXPECT_LT(0, c.upcalls);
	EXPECT_EQ(granted, c.grants);
	if (strict) {
		EXPECT_EQ(c.unblocks, c.grants + c.reclaims);
		EXPECT_LE(c.strict_parks, c.grants);
	} else {
		EXPECT_EQ(0, c.strict_parks);
		EXPECT_EQ(0, c.reclaims);
	}
	EXPECT_EQ(0, c.standbys);
	EXPECT_EQ(0, c.ring_overflows);
}

KT_TEST_MODULE_REFS_SETTLE

TEST_HARNESS_MAIN
