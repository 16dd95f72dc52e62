// SPDX-License-Identifier: GPL-2.0
/*
 * block.c - a worker running G code that blocks in a real syscall (or a
 * page fault) produces exactly one BLOCKED and one UNBLOCKED event per
 * block, hands its P off, and one that only spins or yields produces none.
 *
 * The thread that blocks is the test's main thread, registered as M 0 and
 * holding P 0.  Where a helper must wake it, the helper first waits for the
 * module to publish the block (sact_mslot.blocks), so every call blocks
 * exactly once: the counts are exact, not "at least".
 */
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <linux/userfaultfd.h>

#include "sact_test.h"
#include "kmod_util.h"

FIXTURE(blk) {
	struct kgroup g;
};

FIXTURE_SETUP(blk)
{
	KG_SETUP_WORKER0(&self->g);
}

FIXTURE_TEARDOWN(blk)
{
	kg_close(&self->g);
}

/*
 * After @n blocks of M 0 with P 0 re-acquired after each: exact counters.
 * (Their order, as tracepoints: trace.c.)
 */
static void check_blocks(struct __test_metadata *_metadata, struct kgroup *g,
			 unsigned int n)
{
	struct sact_counters c = kg_counters(g);

	EXPECT_EQ(n, c.blocks);
	EXPECT_EQ(n, c.unblocks);
	EXPECT_EQ(n, c.handoffs);
	EXPECT_EQ(0, c.upcalls);
	EXPECT_EQ(0, c.ring_overflows);
	EXPECT_EQ(n, g->ms[0].blocks);
	EXPECT_EQ(n, g->ms[0].unblocks);
	EXPECT_EQ(n, g->procs[0].handoffs);
	EXPECT_EQ(SACT_NONE, g->ms[0].kproc);	/* not strict: no P given */
}

static long nvcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/*
 * nanosleep blocks - unless its timer expired before schedule() (a slow
 * guest): the thread's voluntary switches say which calls blocked, and
 * exactly those are events.
 */
TEST_F(blk, nanosleep)
{
	struct kgroup *g = &self->g;
	int blocked = 0, calls = 0;

	while (blocked < 5 && calls < 1000) {
		struct timespec ts = { 0, 2000000 };
		long before = nvcsw();

		kg_running(g, 0, 0);
		ASSERT_EQ(0, nanosleep(&ts, NULL));
		kg_idle(g, 0);
		calls++;
		if (nvcsw() == before) {
			ASSERT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
			continue;
		}
		blocked++;
		/* The kernel freed the P (no standby): take it back. */
		ASSERT_EQ(SACT_P_FREE, kg_pword(g, 0));
		ASSERT_TRUE(kg_acquire(g, 0, 0));
	}
	check_blocks(_metadata, g, 5);
}

/* A helper that waits for the n-th block of M 0, then runs fn(arg). */
struct waker {
	struct kgroup *g;
	unsigned int first, rounds;	/* blocks first..rounds */
	void (*fn)(void *arg);
	void *arg;
	int failed;
};

static void *waker_main(void *p)
{
	struct waker *wk = p;
	unsigned int i;

	for (i = wk->first ? wk->first : 1; i <= wk->rounds; i++) {
		if (!kt_wait_until(kg_load(&wk->g->ms[0].blocks) >= i)) {
			wk->failed = 1;
			return NULL;
		}
		wk->fn(wk->arg);
	}
	return NULL;
}

static void pipe_write_one(void *arg)
{
	char c = 'x';

	if (write(*(int *)arg, &c, 1) != 1)
		abort();
}

TEST_F(blk, pipe_read)
{
	struct kgroup *g = &self->g;
	struct waker wk = { .g = g, .rounds = 4, .fn = pipe_write_one };
	pthread_t t;
	int fds[2], i;
	char c;

	ASSERT_EQ(0, pipe(fds));
	wk.arg = &fds[1];
	ASSERT_EQ(0, pthread_create(&t, NULL, waker_main, &wk));
	for (i = 0; i < 4; i++) {
		kg_running(g, 0, 0);
		ASSERT_EQ(1, read(fds[0], &c, 1));
		kg_idle(g, 0);
		ASSERT_TRUE(kg_acquire(g, 0, 0));
	}
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, wk.failed);
	check_blocks(_metadata, g, 4);
	close(fds[0]);
	close(fds[1]);
}

static uint32_t futex_word;

static void futex_wake_one(void *arg)
{
	(void)arg;
	__atomic_store_n(&futex_word, 1, __ATOMIC_RELEASE);
	kt_futex(&futex_word, FUTEX_WAKE_PRIVATE, 1);
}

TEST_F(blk, futex_wait)
{
	struct kgroup *g = &self->g;
	struct waker wk = { .g = g, .rounds = 1, .fn = futex_wake_one };
	pthread_t t;
	unsigned int i;

	for (i = 1; i <= 4; i++) {
		futex_word = 0;
		/* one waker per round: it waits for block number i */
		wk.first = wk.rounds = i;
		ASSERT_EQ(0, pthread_create(&t, NULL, waker_main, &wk));
		kg_running(g, 0, 0);
		while (!__atomic_load_n(&futex_word, __ATOMIC_ACQUIRE))
			kt_futex(&futex_word, FUTEX_WAIT_PRIVATE, 0);
		kg_idle(g, 0);
		ASSERT_EQ(0, pthread_join(t, NULL));
		ASSERT_EQ(0, wk.failed);
		ASSERT_TRUE(kg_acquire(g, 0, 0));
	}
	check_blocks(_metadata, g, 4);
}

/*
 * A page fault that waits: userfaultfd stands in for a page-cache miss
 * (the VM's root is a RAM file system, no page is ever missing).  The
 * UNBLOCKED event is recorded on the return from the fault, not a syscall.
 */
struct uffd_ctx {
	int uffd;
	struct kgroup *g;
	char *page;
	long psize;
	int failed;
};

static void *uffd_main(void *p)
{
	struct uffd_ctx *u = p;
	struct uffd_msg msg;
	struct uffdio_copy cp;
	static char src[65536] __attribute__((aligned(4096)));

	if (read(u->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT) {
		u->failed = 1;
		return NULL;
	}
	if (!kt_wait_until(kg_load(&u->g->ms[0].blocks) >= 1)) {
		u->failed = 2;
		return NULL;
	}
	memset(src, 0x5a, u->psize);
	cp = (struct uffdio_copy){ .dst = (unsigned long)u->page,
				   .src = (unsigned long)src,
				   .len = u->psize };
	if (ioctl(u->uffd, UFFDIO_COPY, &cp))
		u->failed = 3;
	return NULL;
}

TEST_F(blk, page_fault_userfaultfd)
{
	struct kgroup *g = &self->g;
	struct uffd_ctx u = { .g = g, .psize = sysconf(_SC_PAGESIZE) };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	pthread_t t;
	char v;

	u.uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (u.uffd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(u.uffd, UFFDIO_API, &api));
	u.page = mmap(NULL, u.psize, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, u.page);
	reg = (struct uffdio_register){
		.range = { .start = (unsigned long)u.page, .len = u.psize },
		.mode = UFFDIO_REGISTER_MODE_MISSING };
	ASSERT_EQ(0, ioctl(u.uffd, UFFDIO_REGISTER, &reg));
	ASSERT_EQ(0, pthread_create(&t, NULL, uffd_main, &u));

	kg_running(g, 0, 0);
	v = *(volatile char *)u.page;		/* blocks in the fault */
	kg_idle(g, 0);
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, u.failed);
	EXPECT_EQ(0x5a, v);
	ASSERT_TRUE(kg_acquire(g, 0, 0));
	check_blocks(_metadata, g, 1);
	munmap(u.page, u.psize);
	close(u.uffd);
}

/* Blocking while not running G code (state IDLE) is not an event. */
TEST_F(blk, idle_worker_is_silent)
{
	struct kgroup *g = &self->g;

	kg_idle(g, 0);
	kt_sleep_ms(2);
	kt_sleep_ms(2);
	EXPECT_EQ(0, KG_COUNTER(g, blocks));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
	EXPECT_EQ(0, g->ms[0].blocks);
}

/* A P index >= nr_procs, or a P the M does not hold: an event, no handoff. */
TEST_F(blk, no_handoff_without_the_p)
{
	struct kgroup *g = &self->g;
	struct sact_counters c;

	ASSERT_EQ(0, kg_config(g, 0, 2));
	ASSERT_EQ(0, kt_block_once(g, 0, 1));	/* P 1 is FREE: not ours */
	ASSERT_EQ(0, kt_block_once(g, 0, 5));	/* >= nr_procs */
	c = kg_counters(g);
	EXPECT_EQ(2, c.blocks);
	EXPECT_EQ(2, c.unblocks);
	EXPECT_EQ(0, c.handoffs);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
	EXPECT_EQ(SACT_P_FREE, kg_pword(g, 1));
}

static atomic_int hog_run, hog_started;

static void *hog_main(void *arg)
{
	(void)arg;
	if (kt_pin(0))
		abort();
	atomic_store(&hog_started, 1);
	while (atomic_load(&hog_run))
		;
	return NULL;
}

static long nivcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw;
}

/*
 * Spinning on a CPU shared with a CPU hog: preempted (involuntary
 * switches), never blocked.
 */
TEST_F(blk, preempted_spinner_is_not_blocked)
{
	struct kgroup *g = &self->g;
	uint64_t end;
	long before;
	pthread_t t;
	int i;

	ASSERT_EQ(0, kt_pin(0));
	atomic_store(&hog_run, 1);
	ASSERT_EQ(0, pthread_create(&t, NULL, hog_main, NULL));
	while (!atomic_load(&hog_started))
		sched_yield();

	kg_running(g, 0, 0);
	before = nivcsw();
	end = kt_now_ns() + KT_WAIT_NS;
	while (nivcsw() - before < 5 && kt_now_ns() < end)
		;
	for (i = 0; i < 200; i++)
		sched_yield();			/* stays runnable too */
	kg_idle(g, 0);
	EXPECT_LE(5, nivcsw() - before);
	atomic_store(&hog_run, 0);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, KG_COUNTER(g, blocks));
	EXPECT_EQ(0, KG_COUNTER(g, unblocks));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
}

KT_TEST_MODULE_REFS_SETTLE

TEST_HARNESS_MAIN
