// SPDX-License-Identifier: GPL-2.0
/*
 * pool.c - SACT_CONFIG_POOL (a FREE P never waits while a worker waits for
 * one) and SACT_GRANT_STANDBY (user space wakes a standby of its choosing):
 * a standby takes a FREE P at entry; a strict unblock takes another FREE P
 * rather than park; a block with no standby hands its P to a worker parked
 * by strict mode; a grant reaches a parked standby, or one on its way into
 * the ioctl, and never a standby whose episode a block already ended.
 * An idle P (SACT_P_IDLE, rule (7)) goes to a strict unblock, after any
 * FREE P, and never to a standby.
 *
 * M 0 is the test's main thread and holds P 0; other Ms are threads.
 */
#include <pthread.h>

#include "sact_test.h"
#include "kmod_util.h"

FIXTURE(pool) {
	struct kgroup g;
};

FIXTURE_SETUP(pool)
{
	KG_SETUP_WORKER0(&self->g);
}

FIXTURE_TEARDOWN(pool)
{
	kg_close(&self->g);
}

static int kg_grant_standby(struct kgroup *g, uint32_t m, uint32_t p,
			    uint32_t seq)
{
	struct sact_grant a = { .size = sizeof(a), .worker = m, .proc = p,
				.flags = SACT_GRANT_STANDBY, .seq = seq };

	return kt_ioctl(g->fd, SACT_IOC_GRANT, &a);
}

/* A futex flag one thread raises and another waits for. */
static void flag_raise(uint32_t *f)
{
	__atomic_store_n(f, 1, __ATOMIC_RELEASE);
	kt_futex(f, FUTEX_WAKE_PRIVATE, 1);
}

static void flag_wait(uint32_t *f)
{
	while (!__atomic_load_n(f, __ATOMIC_ACQUIRE))
		kt_futex(f, FUTEX_WAIT_PRIVATE, 0);
}

struct m1 {
	struct kgroup *g;
	int ret, ret2;
	/* M 1's slot right after its STANDBY (its exit clears the slot) */
	uint32_t kproc, kstate, seq;
	uint32_t go;		/* main -> M 1 */
	uint32_t ready;		/* M 1 -> main */
	uint32_t parked_seen;
	uint32_t word;		/* m1_free_p1 stores it in P 1: FREE if 0 */
	pthread_t t;
};

/* M 1 (registered): standby once, note its slot. */
static void *m1_standby_only(struct m1 *s)
{
	s->ret = kg_standby(s->g);
	s->kproc = kg_load(&s->g->ms[1].kproc);
	s->kstate = kg_load(&s->g->ms[1].kstate);
	s->seq = kg_load(&s->g->ms[1].standby_seq);
	return NULL;
}

/* M 1: standby once. */
static void *m1_standby(void *p)
{
	struct m1 *s = p;

	if (kg_register(s->g, 1))
		abort();
	return m1_standby_only(s);
}

/* POOL: STANDBY with a P FREE takes it and does not park. */
TEST_F(pool, standby_takes_free_p)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g };

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT | SACT_CONFIG_POOL, 2));
	ASSERT_EQ(SACT_P_FREE, kg_pword(g, 1));
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_standby, &s));
	ASSERT_EQ(0, pthread_join(s.t, NULL));	/* returns: no park */
	EXPECT_EQ(1, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 1));
	EXPECT_EQ(1, s.kproc);
	EXPECT_EQ(1, s.seq);
	EXPECT_EQ(0, KG_COUNTER(g, standbys));
}

/*
 * M 1: standby (gets P 0 when M 0 blocks); once M 0 has parked, block
 * itself on P 0: no standby, so P 0 goes to the parked M 0.  M 1 then
 * parks in turn until M 0 grants P 0 back.
 */
static void *m1_ping_pong(void *p)
{
	struct m1 *s = p;

	if (kg_register(s->g, 1))
		abort();
	s->ret = kg_standby(s->g);
	if (s->ret != 0)
		return NULL;
	s->parked_seen = kt_wait_until(kg_load(&s->g->ms[0].kstate) ==
				       SACT_MK_PARKED);
	if (!s->parked_seen)
		return NULL;
	s->ret2 = kt_block_once(s->g, 1, 0);	/* returns once granted */
	return NULL;
}

TEST_F(pool, block_hands_p_to_parked_worker)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g };
	struct sact_counters c;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT | SACT_CONFIG_POOL, 1));
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_ping_pong, &s));
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1));

	/* P 0 -> standby M 1; we park; M 1 blocks: P 0 comes to us */
	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 0), kg_pword(g, 0));
	EXPECT_EQ(0, g->ms[0].kproc);
	EXPECT_EQ(SACT_MK_RUNNING, g->ms[0].kstate);
	ASSERT_TRUE(kt_wait_until(kg_load(&g->ms[1].kstate) ==
				  SACT_MK_PARKED));
	/* a parked worker that a block woke has no room for a grant */
	c = kg_counters(g);
	EXPECT_EQ(2, c.blocks);
	EXPECT_EQ(2, c.handoffs);
	EXPECT_EQ(2, c.upcalls);
	EXPECT_EQ(2, c.strict_parks);
	EXPECT_EQ(0, c.grants);

	ASSERT_EQ(0, kg_grant(g, 1, 0));	/* ours (HANDOFF|0): to M 1 */
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_TRUE(s.parked_seen);
	EXPECT_EQ(0, s.ret2);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 0));
	EXPECT_EQ(1, KG_COUNTER(g, grants));
}

/* M 1: standby (gets P 0 when M 0 blocks), frees (or idles) P 1, wakes
 * M 0. */
static void *m1_free_p1(void *p)
{
	struct m1 *s = p;

	if (kg_register(s->g, 1))
		abort();
	s->ret = kg_standby(s->g);
	__atomic_store_n(&s->g->procs[1].word, s->word, __ATOMIC_RELEASE);
	flag_raise(&s->ready);
	return NULL;
}

/* POOL: a strict unblock whose P is gone takes another FREE P. */
TEST_F(pool, strict_unblock_takes_other_free_p)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g };
	struct sact_counters c;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT | SACT_CONFIG_POOL, 2));
	kg_force(g, 1, 5);		/* not FREE: the standby parks */
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_free_p1, &s));
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1));
	kg_running(g, 0, 0);
	flag_wait(&s.ready);		/* blocks: P 0 goes to M 1 */
	kg_idle(g, 0);
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 1), kg_pword(g, 0));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 1));
	EXPECT_EQ(1, g->ms[0].kproc);
	c = kg_counters(g);
	EXPECT_EQ(1, c.reclaims);
	EXPECT_EQ(0, c.strict_parks);
}

/* POOL (7): a strict unblock whose P is gone takes an idle P. */
TEST_F(pool, strict_unblock_takes_idle_p)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g, .word = SACT_PW(SACT_P_IDLE, 0) };
	struct sact_counters c;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT | SACT_CONFIG_POOL, 3));
	kg_force(g, 1, 5);		/* not FREE: the standby parks */
	kg_force(g, 2, 5);		/* P 2 is held: not taken */
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_free_p1, &s));
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1));
	kg_running(g, 0, 0);
	flag_wait(&s.ready);		/* blocks: P 0 goes to M 1 */
	kg_idle(g, 0);
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 1), kg_pword(g, 0));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 1));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 5), kg_pword(g, 2));
	EXPECT_EQ(1, g->ms[0].kproc);
	c = kg_counters(g);
	EXPECT_EQ(1, c.reclaims);
	EXPECT_EQ(0, c.strict_parks);
}

/* M 1: standby once, having idled P 1 first. */
static void *m1_idle_p1_standby(void *p)
{
	struct m1 *s = p;

	if (kg_register(s->g, 1))
		abort();
	__atomic_store_n(&s->g->procs[1].word, SACT_PW(SACT_P_IDLE, 0),
			 __ATOMIC_RELEASE);
	return m1_standby_only(s);
}

/*
 * POOL (7): STANDBY leaves an idle P alone (it parks; P 1 stays idle), and
 * a FREE P comes before an idle one at a strict unblock.
 */
TEST_F(pool, standby_leaves_idle_p)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g };

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT | SACT_CONFIG_POOL, 3));
	kg_force(g, 2, 5);
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_idle_p1_standby, &s));
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1));
	EXPECT_EQ(SACT_PW(SACT_P_IDLE, 0), kg_pword(g, 1));
	/* P 0 to M 1; P 2 FREE now: our unblock takes it, not idle P 1 */
	__atomic_store_n(&g->procs[2].word, SACT_P_FREE, __ATOMIC_RELEASE);
	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(0, s.kproc);
	EXPECT_EQ(SACT_PW(SACT_P_IDLE, 0), kg_pword(g, 1));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 2));
	EXPECT_EQ(2, g->ms[0].kproc);
	EXPECT_EQ(0, KG_COUNTER(g, strict_parks));
}

/* M 1: tell main its seq, then standby. */
static void *m1_seq_standby(void *p)
{
	struct m1 *s = p;

	if (kg_register(s->g, 1))
		abort();
	flag_raise(&s->ready);
	flag_wait(&s->go);
	return m1_standby_only(s);
}

/* SACT_GRANT_STANDBY wakes a parked standby; a stale seq is refused. */
TEST_F(pool, grant_to_parked_standby)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g };
	uint32_t seq;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_POOL, 2));
	kg_force(g, 1, 5);
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_seq_standby, &s));
	flag_wait(&s.ready);
	seq = kg_load(&g->ms[1].standby_seq);
	flag_raise(&s.go);
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1));
	EXPECT_EQ(-EAGAIN, kg_grant_standby(g, 1, 0, seq + 1));
	EXPECT_EQ(-EAGAIN, kg_grant(g, 1, 0));	/* not without the flag */
	EXPECT_EQ(-EBUSY, kg_grant_standby(g, 1, 1, seq));	/* M 5's */
	ASSERT_EQ(0, kg_grant_standby(g, 1, 0, seq));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 0));
	EXPECT_EQ(seq + 1, s.seq);
	EXPECT_EQ(0, s.kproc);
	EXPECT_EQ(SACT_MK_RUNNING, s.kstate);
	EXPECT_EQ(0, KG_COUNTER(g, standbys));
	EXPECT_EQ(1, KG_COUNTER(g, grants));
}

/* A grant that comes before the STANDBY call is returned by it at once. */
TEST_F(pool, grant_before_standby)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g };
	uint32_t seq;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_POOL, 2));
	kg_force(g, 1, 5);
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_seq_standby, &s));
	flag_wait(&s.ready);
	seq = kg_load(&g->ms[1].standby_seq);
	ASSERT_EQ(0, kg_grant_standby(g, 1, 0, seq));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 0));
	EXPECT_EQ(-EAGAIN, kg_grant_standby(g, 1, 0, seq));	/* one only */
	flag_raise(&s.go);
	ASSERT_EQ(0, pthread_join(s.t, NULL));	/* returns: no park */
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(0, KG_COUNTER(g, standbys));
	EXPECT_EQ(1, KG_COUNTER(g, grants));
}

/*
 * A second standby grant, with the seq the first one left, while the
 * first is still pending: refused (-EBUSY).  Taking it would leave the M
 * two Ps and strand the first (the header's "one M never holds two").
 */
TEST_F(pool, second_standby_grant_refused)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g };
	uint32_t seq;

	ASSERT_EQ(0, kg_config(g, 0, 3));
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_seq_standby, &s));
	flag_wait(&s.ready);
	seq = kg_load(&g->ms[1].standby_seq);
	ASSERT_EQ(0, kg_grant_standby(g, 1, 1, seq));
	seq = kg_load(&g->ms[1].standby_seq);		/* the new episode */
	EXPECT_EQ(-EBUSY, kg_grant_standby(g, 1, 2, seq));
	EXPECT_EQ(SACT_P_FREE, kg_pword(g, 2));	/* not taken */
	flag_raise(&s.go);
	ASSERT_EQ(0, pthread_join(s.t, NULL));	/* returns: no park */
	EXPECT_EQ(1, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 1));
	EXPECT_EQ(SACT_P_FREE, kg_pword(g, 2));
	EXPECT_EQ(1, KG_COUNTER(g, grants));
}

/* Without POOL a FREE P waits for user space: STANDBY still parks. */
TEST_F(pool, without_pool_free_p_waits)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g };

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 2));
	ASSERT_EQ(SACT_P_FREE, kg_pword(g, 1));
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_standby, &s));
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1));
	EXPECT_EQ(SACT_P_FREE, kg_pword(g, 1));
	ASSERT_EQ(0, kg_grant_standby(g, 1, 1, 0));	/* a FREE P: allowed */
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(1, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 1));
}

KT_TEST_MODULE_REFS_SETTLE

TEST_HARNESS_MAIN
