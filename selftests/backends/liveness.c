// SPDX-License-Identifier: GPL-2.0
/*
 * liveness.c - a program that runs on one thread per task runs on Gs: Ms
 * grow with the Gs blocked in plain (unwrapped) calls, up to the cap, and
 * the surplus retires when the blocks end.
 *
 * Every backend that hands off a P on a raw block: kmod (strict or not,
 * in the VM; strict, an M back from a block takes an idle P at its
 * unblock - the module's rule (7) - rather than park for a grant no
 * running M is left to make), bpf, and sysmon (which retakes a P whose M
 * sleeps in the kernel with its tick stalled).  none hands off nothing -
 * a raw block keeps its P, the naive baseline - so it has no variant
 * here.
 *
 * All assertions are counts: how many Ms existed at once, how many laps
 * the token made; a guard of a minute turns a hang into a failed count.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <sact.h>

#include "sact_test.h"

#define GUARD_MS	60000	/* then a hang is a failed count; the
				 * harness kills at 300 s */

FIXTURE(live) { int unused; };
FIXTURE_VARIANT(live) {
	int nprocs;
	enum sact_backend backend;
	unsigned int flags;
};
FIXTURE_SETUP(live) { st_skip_elsewhere(variant->backend); }
FIXTURE_TEARDOWN(live) { }
FIXTURE_VARIANT_ADD(live, p1_kmod) { 1, SACT_BACKEND_KMOD };
FIXTURE_VARIANT_ADD(live, p2_kmod) { 2, SACT_BACKEND_KMOD };
FIXTURE_VARIANT_ADD(live, p2_kmod_nostrict)
	{ 2, SACT_BACKEND_KMOD, SACT_CONFIG_NO_STRICT };
FIXTURE_VARIANT_ADD(live, p1_bpf) { 1, SACT_BACKEND_BPF };
FIXTURE_VARIANT_ADD(live, p2_bpf) { 2, SACT_BACKEND_BPF };
FIXTURE_VARIANT_ADD(live, p1_sysmon) { 1, SACT_BACKEND_SYSMON };
FIXTURE_VARIANT_ADD(live, p2_sysmon) { 2, SACT_BACKEND_SYSMON };

/* ---- a ring of Gs passing a token through pipes, plain read/write ------- */

#define RING	200

struct ring {
	int fds[RING][2];
	int laps;
	_Atomic int done_laps;
	struct sact_waitgroup wg;
};

struct member {
	struct ring *r;
	int i;
};

static struct member members[RING];

static void ring_member(void *arg)
{
	struct member *me = arg;
	struct ring *r = me->r;
	int in = r->fds[me->i][0];
	int out = r->fds[(me->i + 1) % RING][1];
	char c;

	for (int lap = 0; lap < r->laps; lap++) {
		if (read(in, &c, 1) != 1)		/* raw: libc's read */
			break;
		if (me->i == 0)
			atomic_fetch_add(&r->done_laps, 1);
		if (write(out, &c, 1) != 1)		/* the last one stays */
			break;
	}
	sact_wg_done(&r->wg);
}

static void ring_main(void *arg)
{
	struct ring *r = arg;

	sact_wg_add(&r->wg, RING);
	for (int i = 0; i < RING; i++) {
		members[i].r = r;
		members[i].i = i;
		sact_go(ring_member, &members[i]);
	}
	if (write(r->fds[0][1], "t", 1) != 1)		/* the token */
		return;
	sact_wg_wait(&r->wg);
}

TEST_F(live, pipe_ring_of_200)
{
	struct ring r = { .laps = st_in_vm() ? 5 : 50 };
	struct sact_config c = { .standby = -1 };
	struct sact_stats st = { .size = sizeof(st) };

	for (int i = 0; i < RING; i++)
		ASSERT_EQ(0, pipe(r.fds[i]));
	ASSERT_EQ(0, st_run_cfg(&c, ring_main, &r));
	EXPECT_EQ(r.laps, atomic_load(&r.done_laps));
	ASSERT_EQ(0, sact_stats(&st));
	/* all but one member wait in read at once, each on its own M */
	EXPECT_LE(RING - 1, st.ms_peak);
	for (int i = 0; i < RING; i++) {
		close(r.fds[i][0]);
		close(r.fds[i][1]);
	}
}

/* ---- N Gs in a plain blocking call at once ------------------------------ */

#define READERS	100

struct readers {
	int fds[2];
	int n;
	_Atomic int entered, done;
	struct sact_waitgroup wg;
};

static void reader(void *arg)
{
	struct readers *rd = arg;
	char c;

	atomic_fetch_add(&rd->entered, 1);
	if (read(rd->fds[0], &c, 1) == 1)		/* raw */
		atomic_fetch_add(&rd->done, 1);
	sact_wg_done(&rd->wg);
}

static void readers_main(void *arg)
{
	struct readers *rd = arg;

	sact_wg_add(&rd->wg, rd->n);
	for (int i = 0; i < rd->n; i++)
		sact_go(reader, rd);
	sact_wg_wait(&rd->wg);
}

/*
 * A plain thread: once every reader has entered (each one could only run
 * because the one before it blocked and handed its P off), release them
 * all.  Until then every reader holds an M in the kernel.
 */
static void *releaser(void *arg)
{
	struct readers *rd = arg;

	for (int i = 0; i < GUARD_MS && atomic_load(&rd->entered) < rd->n;
	     i++)
		usleep(1000);
	usleep(10000);	/* not needed for the count; lets the last read
			 * reach the kernel, so its M is counted too */
	for (int i = 0; i < rd->n; i++)
		if (write(rd->fds[1], "x", 1) != 1)
			abort();
	return NULL;
}

TEST_F(live, hundred_plain_reads_at_once)
{
	struct readers rd = { .n = READERS };
	struct sact_config c = { .standby = -1 };
	struct sact_stats st = { .size = sizeof(st) };
	pthread_t t;

	ASSERT_EQ(0, pipe(rd.fds));
	ASSERT_EQ(0, pthread_create(&t, NULL, releaser, &rd));
	ASSERT_EQ(0, st_run_cfg(&c, readers_main, &rd));
	pthread_join(t, NULL);
	EXPECT_EQ(READERS, atomic_load(&rd.entered));
	EXPECT_EQ(READERS, atomic_load(&rd.done));
	ASSERT_EQ(0, sact_stats(&st));
	/* every reader entered before any returned: one M each at once */
	EXPECT_LE(READERS, st.ms_peak);
	EXPECT_EQ(st.ms_created, st.nms + st.ms_retired);
	close(rd.fds[0]);
	close(rd.fds[1]);
}

/* ---- after the burst, the surplus retires -------------------------------- */

struct burst {
	struct readers rd;
	int keep;
	int nms_after;
};

static void burst_main(void *arg)
{
	struct burst *b = arg;
	struct sact_stats st = { .size = sizeof(st) };

	readers_main(&b->rd);
	/* wait (a G: parks, so Ms are free to go) until the count is back
	 * down; the guard only ends a hang */
	for (int i = 0; i < GUARD_MS / 10; i++) {
		sact_stats(&st);
		if (st.nms <= b->keep)
			break;
		sact_sleep_ns(10000000);
	}
	b->nms_after = st.nms;
}

TEST_F(live, surplus_ms_retire)
{
	struct burst b = { .rd = { .n = 20 } };
	struct sact_config c = { .standby = 1, .thread_idle_ms = 20 };
	struct sact_stats st = { .size = sizeof(st) };
	pthread_t t;

	b.keep = variant->nprocs + 1;
	ASSERT_EQ(0, pipe(b.rd.fds));
	ASSERT_EQ(0, pthread_create(&t, NULL, releaser, &b.rd));
	ASSERT_EQ(0, st_run_cfg(&c, burst_main, &b));
	pthread_join(t, NULL);
	EXPECT_EQ(20, atomic_load(&b.rd.done));
	EXPECT_EQ(b.keep, b.nms_after);
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_LE(20, st.ms_peak);
	EXPECT_EQ(st.ms_created - b.keep, st.ms_retired);
	close(b.rd.fds[0]);
	close(b.rd.fds[1]);
}

/* ---- at the cap, Gs wait for an M, and SACT_DEBUG=1 says why ----------- */

struct capped {
	struct readers rd;
	int errfd;
	char buf[4096];
};

/* Release the readers once the runtime said it reached the cap. */
static void *cap_releaser(void *arg)
{
	struct capped *cp = arg;
	size_t len = 0;

	for (int i = 0; i < GUARD_MS; i++) {
		ssize_t n = read(cp->errfd, cp->buf + len,
				 sizeof(cp->buf) - 1 - len);

		if (n > 0)
			len += n;
		cp->buf[len] = 0;
		if (strstr(cp->buf, "the cap (max_threads)"))
			break;
		usleep(1000);
	}
	for (int i = 0; i < cp->rd.n; i++)
		if (write(cp->rd.fds[1], "x", 1) != 1)
			abort();
	return NULL;
}

TEST_F(live, at_the_cap_gs_wait)
{
	struct capped cp = { .rd = { .n = 40 } };
	struct sact_config c = { .standby = 1 };
	struct sact_stats st = { .size = sizeof(st) };
	int pfd[2], saved;
	pthread_t t;

	c.max_threads = variant->nprocs + 3;
	ASSERT_EQ(0, pipe(cp.rd.fds));
	ASSERT_EQ(0, pipe2(pfd, O_NONBLOCK));
	cp.errfd = pfd[0];
	saved = dup(2);
	ASSERT_LE(0, saved);
	ASSERT_EQ(2, dup2(pfd[1], 2));
	setenv("SACT_DEBUG", "1", 1);
	ASSERT_EQ(0, pthread_create(&t, NULL, cap_releaser, &cp));
	ASSERT_EQ(0, st_run_cfg(&c, readers_main, &cp.rd));
	pthread_join(t, NULL);
	unsetenv("SACT_DEBUG");
	dup2(saved, 2);
	EXPECT_EQ(40, atomic_load(&cp.rd.done));
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_EQ(c.max_threads, st.ms_peak);
	EXPECT_NE(NULL, strstr(cp.buf, "the cap (max_threads)"))
		TH_LOG("stderr: %s", cp.buf);
	close(pfd[0]);
	close(pfd[1]);
	close(saved);
	close(cp.rd.fds[0]);
	close(cp.rd.fds[1]);
}

TEST_HARNESS_MAIN
