// SPDX-License-Identifier: GPL-2.0
/*
 * ownership.c - the P word has exactly one owner, whatever races:
 *
 *  - handoff_race: an M blocks holding P0 and is woken at once, so its
 *    sact_bpf_p_keep() (take P0 back) races with the standby's claim; every
 *    handoff ends with exactly one of the two owning P0, and the two never
 *    run "G code" at the same time (a holder count says so) - many rounds,
 *    each wake design;
 *  - acquire_race: threads fight for an IDLE P with acquire/release.
 */
#include "bpf_test.h"

#define ROUNDS	10000

struct race {
	struct sact_bpf *b;
	uint32_t fword;		/* the M sleeps while fword == round */
	int holders;		/* threads running G code on P0 (<= 1) */
	int overlap;		/* times holders was found > 0 on entry */
	int m_slot;
	int m_ready;
	long kept, reclaimed, lost;	/* the M's sact_bpf_p_keep() results */
	long sb_won;			/* the standby's claims */
	long m_err, sb_err;
};

static void g_enter(struct race *r)
{
	if (__atomic_fetch_add(&r->holders, 1, __ATOMIC_ACQ_REL))
		__atomic_fetch_add(&r->overlap, 1, __ATOMIC_RELAXED);
}

static void g_leave(struct race *r)
{
	__atomic_fetch_sub(&r->holders, 1, __ATOMIC_ACQ_REL);
}

static void *m_main(void *arg)
{
	struct race *r = arg;
	struct sact_bpf_m *m;
	uint32_t i;
	int k;

	r->m_slot = sact_bpf_register(r->b);
	if (r->m_slot < 0) {
		r->m_err++;
		__atomic_store_n(&r->m_ready, -1, __ATOMIC_RELEASE);
		return NULL;
	}
	m = sact_bpf_mslot(r->b, r->m_slot);
	__atomic_store_n(&r->m_ready, 1, __ATOMIC_RELEASE);
	for (i = 0; i < ROUNDS; i++) {
		while ((k = sact_bpf_p_acquire(r->b, 0, r->m_slot)) == -EBUSY)
			sched_yield();		/* the standby still has it */
		if (k)			/* never HANDOFF here: we took it */
			r->m_err++;
		g_enter(r);
		sact_bpf_set_in_g(m, true);
		g_leave(r);		/* G code stops at the syscall */
		while (__atomic_load_n(&r->fword, __ATOMIC_ACQUIRE) == i)
			t_futex(&r->fword, FUTEX_WAIT_PRIVATE, i, NULL);
		sact_bpf_set_in_g(m, false);
		k = sact_bpf_p_keep(r->b, 0, r->m_slot);
		if (k == -EAGAIN) {
			r->lost++;
			continue;
		}
		if (k == 0)
			r->kept++;
		else if (k == 1)
			r->reclaimed++;
		else
			r->m_err++;
		g_enter(r);
		g_leave(r);
		if (sact_bpf_p_release(r->b, 0, r->m_slot))
			r->m_err++;
	}
	sact_bpf_unregister(r->b, r->m_slot);
	return NULL;
}

static void *standby_main(void *arg)
{
	struct race *r = arg;
	int slot = sact_bpf_register(r->b), p;

	if (slot < 0) {
		r->sb_err++;
		return NULL;
	}
	for (;;) {
		p = sact_bpf_wait(r->b, slot, 0, -1, NULL);
		if (p == -ECANCELED)
			break;
		if (p != 0) {
			r->sb_err++;
			break;
		}
		r->sb_won++;
		g_enter(r);
		g_leave(r);
		if (sact_bpf_p_release(r->b, 0, slot))
			r->sb_err++;
	}
	sact_bpf_unregister(r->b, slot);
	return NULL;
}

static void *relay_main(void *arg)
{
	struct sact_bpf *b = arg;

	while (sact_bpf_relay(b, -1) >= 0)
		;
	return NULL;
}

FIXTURE(own) {
	struct sact_bpf *b;
};

FIXTURE_VARIANT(own) {
	int wake;
};

FIXTURE_VARIANT_ADD(own, per_p) { .wake = SACT_BPF_WAKE_RING_PER_P, };
FIXTURE_VARIANT_ADD(own, futex_hop) { .wake = SACT_BPF_WAKE_RING_FUTEX, };

FIXTURE_SETUP(own)
{
	sact_bpf_open_or_skip(_metadata, 1, variant->wake, &self->b);
}

FIXTURE_TEARDOWN(own)
{
	sact_bpf_close(self->b);
}

TEST_F_TIMEOUT(own, handoff_race, 600)
{
	const struct sact_bpf_shared *sh;
	pthread_t mt, st, rt;
	struct race r = { 0 };
	uint32_t i;

	if (!self->b)
		return;
	sh = sact_bpf_shared(self->b);
	r.b = self->b;
	if (variant->wake == SACT_BPF_WAKE_RING_FUTEX)
		ASSERT_EQ(0, pthread_create(&rt, NULL, relay_main, self->b));
	ASSERT_EQ(0, pthread_create(&st, NULL, standby_main, &r));
	ASSERT_EQ(0, pthread_create(&mt, NULL, m_main, &r));
	t_wait_until(_metadata, __atomic_load_n(&r.m_ready, __ATOMIC_ACQUIRE),
		     "the M");
	ASSERT_EQ(1, r.m_ready);

	/* Wake the M the moment it has blocked: keep races the claim. */
	for (i = 0; i < ROUNDS; i++) {
		t_wait_until(_metadata,
			     t_load64(&sact_bpf_mslot(self->b, r.m_slot)->blocks) ==
			     i + 1,
			     "the M to block");
		__atomic_store_n(&r.fword, i + 1, __ATOMIC_RELEASE);
		t_futex(&r.fword, FUTEX_WAKE_PRIVATE, 1, NULL);
	}
	pthread_join(mt, NULL);
	sact_bpf_stop(self->b);
	pthread_join(st, NULL);
	if (variant->wake == SACT_BPF_WAKE_RING_FUTEX)
		pthread_join(rt, NULL);

	TH_LOG("%d rounds: M took P0 back %ld times, standby got it %ld times",
	       ROUNDS, r.reclaimed, r.sb_won);
	EXPECT_EQ(0, r.m_err);
	EXPECT_EQ(0, r.sb_err);
	EXPECT_EQ(0, r.overlap);
	/* Every round blocked once and handed P0 off once ... */
	EXPECT_EQ(ROUNDS, sh->stats.blocks);
	EXPECT_EQ(ROUNDS, sh->stats.handoffs);
	EXPECT_EQ(0, sh->stats.handoff_races);
	EXPECT_EQ(ROUNDS, sh->stats.upcalls + sh->stats.ring_fail);
	EXPECT_EQ(0, r.kept);
	/* ... and each handoff has exactly one taker. */
	EXPECT_EQ(ROUNDS, r.reclaimed + r.lost);
	EXPECT_EQ(r.lost, r.sb_won);
	EXPECT_EQ(SACT_BPF_P_IDLE, SACT_BPF_OWN_STATE(t_load64(&sh->p[0].own)));
}

#define FIGHTERS	4
#define FIGHTS		100000

struct fight {
	struct sact_bpf *b;
	int holders, overlap, err;
	long wins[FIGHTERS];
};

struct fighter {
	struct fight *f;
	int idx;
};

static void *fighter_main(void *arg)
{
	struct fighter *me = arg;
	struct fight *f = me->f;
	int slot = sact_bpf_register(f->b), i;

	if (slot < 0) {
		__atomic_fetch_add(&f->err, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	for (i = 0; i < FIGHTS; i++) {
		int e = sact_bpf_p_acquire(f->b, 0, slot);

		if (e == -EBUSY)
			continue;
		if (e) {
			__atomic_fetch_add(&f->err, 1, __ATOMIC_RELAXED);
			break;
		}
		if (__atomic_fetch_add(&f->holders, 1, __ATOMIC_ACQ_REL))
			__atomic_fetch_add(&f->overlap, 1, __ATOMIC_RELAXED);
		f->wins[me->idx]++;
		__atomic_fetch_sub(&f->holders, 1, __ATOMIC_ACQ_REL);
		if (sact_bpf_p_release(f->b, 0, slot))
			__atomic_fetch_add(&f->err, 1, __ATOMIC_RELAXED);
	}
	sact_bpf_unregister(f->b, slot);
	return NULL;
}

TEST_F(own, acquire_race)
{
	struct fighter fs[FIGHTERS];
	pthread_t t[FIGHTERS];
	struct fight f = { 0 };
	const struct sact_bpf_shared *sh;
	long wins = 0;
	int i;

	if (!self->b)
		return;
	sh = sact_bpf_shared(self->b);
	f.b = self->b;
	for (i = 0; i < FIGHTERS; i++) {
		fs[i].f = &f;
		fs[i].idx = i;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, fighter_main, &fs[i]));
	}
	for (i = 0; i < FIGHTERS; i++) {
		pthread_join(t[i], NULL);
		wins += f.wins[i];
	}
	EXPECT_EQ(0, f.err);
	EXPECT_EQ(0, f.overlap);
	EXPECT_LT(0, wins);
	/* Every win moved the word twice (acquire, release). */
	EXPECT_EQ((uint32_t)(2 * wins),
		  SACT_BPF_OWN_SEQ(t_load64(&sh->p[0].own)));
	EXPECT_EQ(SACT_BPF_P_IDLE, SACT_BPF_OWN_STATE(t_load64(&sh->p[0].own)));
}

TEST_HARNESS_MAIN
