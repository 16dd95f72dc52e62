// SPDX-License-Identifier: GPL-2.0
/*
 * stress.c - at least 100k blocks of 4 Ms holding 4 Ps (two futex
 * ping-pong pairs) with standbys taking the handed-off Ps: every counter
 * adds up exactly, per M, per P and in total.
 */
#include <bpf/bpf.h>

#include "bpf_test.h"

#define NM		4
#define NP		4
#define TARGET		100000

struct pair {
	uint32_t turn;		/* which of the two may go */
	int stop;
} __attribute__((aligned(64)));

struct stress {
	struct sact_bpf *b;
	const struct sact_bpf_shared *sh;
	struct pair pairs[NM / 2];
};

struct mstate {
	struct stress *s;
	int idx, slot;
	long kept, reclaimed, lost, took_handoff, rounds, err;
} __attribute__((aligned(64)));

/* Take some P: the home one first, else any IDLE or HANDOFF one. */
static int get_p(struct mstate *ms, int home, long *took_handoff)
{
	for (;;) {
		int i;

		for (i = 0; i < NP; i++) {
			int p = (home + i) % NP;
			int e = sact_bpf_p_acquire(ms->s->b, p, ms->slot);

			if (e >= 0) {
				*took_handoff += e;
				return p;
			}
		}
		sched_yield();
	}
}

static void *m_main(void *arg)
{
	struct mstate *ms = arg;
	struct stress *s = ms->s;
	struct pair *pr = &s->pairs[ms->idx / 2];
	uint32_t me = ms->idx % 2;
	struct sact_bpf_m *m;
	uint32_t t;

	ms->slot = sact_bpf_register(s->b);
	if (ms->slot < 0) {
		ms->err++;
		return NULL;
	}
	m = sact_bpf_mslot(s->b, ms->slot);
	for (;;) {
		int p = get_p(ms, ms->idx, &ms->took_handoff), k;

		/*
		 * One futex wait per in_g window: a wait can end spuriously
		 * (the partner's FUTEX_WAKE of an earlier round arriving
		 * late), and a second block without a P of its own would
		 * (rightly) hand nothing off.
		 */
		while ((t = __atomic_load_n(&pr->turn, __ATOMIC_ACQUIRE)) != me &&
		       !__atomic_load_n(&pr->stop, __ATOMIC_ACQUIRE)) {
			sact_bpf_set_in_g(m, true);
			t_futex(&pr->turn, FUTEX_WAIT_PRIVATE, t, NULL);
			sact_bpf_set_in_g(m, false);
			k = sact_bpf_p_keep(s->b, p, ms->slot);
			if (k == -EAGAIN) {
				ms->lost++;
				p = get_p(ms, ms->idx, &ms->took_handoff);
			} else if (k == 0) {
				ms->kept++;
			} else if (k == 1) {
				ms->reclaimed++;
			} else {
				ms->err++;
			}
		}
		if (sact_bpf_p_release(s->b, p, ms->slot))
			ms->err++;
		if (__atomic_load_n(&pr->stop, __ATOMIC_ACQUIRE))
			break;
		ms->rounds++;
		if (t_load64(&s->sh->stats.blocks) >= TARGET)
			__atomic_store_n(&pr->stop, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&pr->turn, !me, __ATOMIC_RELEASE);
		t_futex(&pr->turn, FUTEX_WAKE_PRIVATE, 1, NULL);
	}
	return NULL;	/* stays registered: its counters are summed */
}

struct sbstate {
	struct stress *s;
	int p;		/* RING_PER_P: the P it stands by for */
	int slot;
	long won, err;
} __attribute__((aligned(64)));

static void *standby_main(void *arg)
{
	struct sbstate *sb = arg;
	int p;

	sb->slot = sact_bpf_register(sb->s->b);
	if (sb->slot < 0) {
		sb->err++;
		return NULL;
	}
	while ((p = sact_bpf_wait(sb->s->b, sb->slot, sb->p, -1, NULL)) >= 0) {
		sb->won++;
		if (sact_bpf_p_release(sb->s->b, p, sb->slot))
			sb->err++;
	}
	if (p != -ECANCELED)
		sb->err++;
	return NULL;
}

static void *relay_main(void *arg)
{
	struct sact_bpf *b = arg;

	while (sact_bpf_relay(b, -1) >= 0)
		;
	return NULL;
}

FIXTURE(stress) {
	struct sact_bpf *b;
};

FIXTURE_VARIANT(stress) {
	int wake;
	int standbys;
};

FIXTURE_VARIANT_ADD(stress, per_p) {
	.wake = SACT_BPF_WAKE_RING_PER_P, .standbys = NP, };
FIXTURE_VARIANT_ADD(stress, futex_hop) {
	.wake = SACT_BPF_WAKE_RING_FUTEX, .standbys = 2, };

FIXTURE_SETUP(stress)
{
	sact_bpf_open_or_skip(_metadata, NP, variant->wake, &self->b);
}

FIXTURE_TEARDOWN(stress)
{
	sact_bpf_close(self->b);
}

TEST_F_TIMEOUT(stress, counters_add_up, 900)
{
	struct mstate ms[NM] = { 0 };
	struct sbstate sb[NP] = { 0 };
	pthread_t mt[NM], st[NP], rt;
	struct stress s = { 0 };
	const struct sact_bpf_shared *sh;
	uint64_t sum_blocks = 0, sum_unblocks = 0, sum_mh = 0, sum_ph = 0;
	long reclaimed = 0, lost = 0, took = 0, won = 0, leftover = 0;
	int i;

	if (!self->b)
		return;
	sh = s.sh = sact_bpf_shared(self->b);
	s.b = self->b;
	if (variant->wake == SACT_BPF_WAKE_RING_FUTEX)
		ASSERT_EQ(0, pthread_create(&rt, NULL, relay_main, self->b));
	for (i = 0; i < variant->standbys; i++) {
		sb[i].s = &s;
		sb[i].p = i;
		ASSERT_EQ(0, pthread_create(&st[i], NULL, standby_main, &sb[i]));
	}
	for (i = 0; i < NM; i++) {
		ms[i].s = &s;
		ms[i].idx = i;
		ASSERT_EQ(0, pthread_create(&mt[i], NULL, m_main, &ms[i]));
	}
	for (i = 0; i < NM; i++)
		pthread_join(mt[i], NULL);
	sact_bpf_stop(self->b);
	for (i = 0; i < variant->standbys; i++)
		pthread_join(st[i], NULL);
	if (variant->wake == SACT_BPF_WAKE_RING_FUTEX)
		pthread_join(rt, NULL);

	for (i = 0; i < NM; i++) {
		const struct sact_bpf_m *m = sact_bpf_mslot(self->b,
							     ms[i].slot);

		EXPECT_EQ(0, ms[i].err);
		/* Each of this M's handoffs was settled by its own keep(). */
		EXPECT_EQ(m->handoffs, ms[i].reclaimed + ms[i].lost);
		reclaimed += ms[i].reclaimed;
		lost += ms[i].lost;
		took += ms[i].took_handoff;
	}
	for (i = 0; i < SACT_BPF_MMAX_DEFAULT; i++) {	/* opened so */
		const struct sact_bpf_m *m = sact_bpf_mslot(self->b, i);

		if (!m)		/* past the mapped slots: never handed out */
			break;
		sum_blocks += m->blocks;
		sum_unblocks += m->unblocks;
		sum_mh += m->handoffs;
	}
	for (i = 0; i < variant->standbys; i++) {
		EXPECT_EQ(0, sb[i].err);
		won += sb[i].won;
	}
	for (i = 0; i < NP; i++) {
		sum_ph += sh->p[i].handoffs;
		leftover += SACT_BPF_OWN_STATE(sh->p[i].own) == SACT_BPF_P_HANDOFF;
	}
	TH_LOG("blocks %llu handoffs %llu: M took back %ld, standbys %ld, "
	       "other Ms %ld; upcalls %llu ring_fail %llu",
	       (unsigned long long)sh->stats.blocks,
	       (unsigned long long)sh->stats.handoffs, reclaimed, won, took,
	       (unsigned long long)sh->stats.upcalls,
	       (unsigned long long)sh->stats.ring_fail);

	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(sact_bpf_prog_id(self->b));

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
					TH_LOG("program runs missed (recursion): %llu",
			       (unsigned long long)info.recursion_misses);
		if (fd >= 0)
			close(fd);
	}
	EXPECT_LE(TARGET, sh->stats.blocks);
	EXPECT_EQ(sh->stats.blocks, sum_blocks);
	EXPECT_EQ(sh->stats.unblocks, sum_unblocks);
	/*
	 * Every block is followed by a switch-in, but the 6.18 host now and
	 * then runs a task again without a sched_switch naming it as next
	 * (perf sees the same; not on 6.1): the unblock count is advisory,
	 * so only its bound is asserted.
	 */
	EXPECT_LE(sh->stats.unblocks, sh->stats.blocks);
	if (sh->stats.unblocks != sh->stats.blocks)
		TH_LOG("switch-ins not seen after a block: %llu",
		       (unsigned long long)(sh->stats.blocks - sh->stats.unblocks));
	EXPECT_EQ(sh->stats.handoffs, sum_mh);
	EXPECT_EQ(sh->stats.handoffs, sum_ph);
	EXPECT_EQ(sh->stats.handoffs, sh->stats.upcalls + sh->stats.ring_fail);
	EXPECT_EQ(0, sh->stats.handoff_races);
	EXPECT_EQ(0, leftover);
	/* Every handoff had exactly one taker. */
	EXPECT_EQ(sh->stats.handoffs, reclaimed + won + took);
	EXPECT_EQ(lost, won + took);
	/* An M blocks only holding a P it owns: every block hands off. */
	EXPECT_EQ(sh->stats.blocks, sh->stats.handoffs);
}

TEST_HARNESS_MAIN
