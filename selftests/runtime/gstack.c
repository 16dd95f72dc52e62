// SPDX-License-Identifier: GPL-2.0
/*
 * gstack.c - what a G's stack costs in memory (issue 22), in counts:
 *
 *  - a parked G with a shallow frame has one resident page in its slot
 *    (mincore over the 64 KiB below its frame): its struct g and its
 *    frames share the top page, and nothing else of the slot is touched
 *    (no canary at the bottom where the kernel has guard regions);
 *  - a warm spawn/exit loop takes (almost) no page fault per G: a dead
 *    G's stack goes back to its P's free list, LIFO, still resident;
 *  - past the mprotect budget of guard pages (~8,000 stacks), a stack
 *    still has its guard where the kernel has guard regions
 *    (MADV_GUARD_INSTALL, 6.13): an overflow of the 10,002nd G is caught
 *    at the faulting instruction.
 *
 * Native, backend none, one P: what is measured is the stack, not a
 * backend.  The fault counts are the whole process's (getrusage), so the
 * bounds leave room for the runtime's own few faults.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <sact.h>

#include "sact_test.h"

#define PAGE	4096UL
#define GFREE_CAP	64	/* a P's own cache of dead Gs (stack.c) */

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif

/* Does this kernel have guard regions (Linux 6.13)? */
static bool kernel_has_guard_regions(void)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;

	if (p == MAP_FAILED)
		return false;
	ok = madvise(p, PAGE, MADV_GUARD_INSTALL) == 0;
	munmap(p, PAGE);
	return ok;
}

/* ---- one page per parked G ------------------------------------------------ */

#define NPARKED	64

struct parked {
	int fillers;		/* Gs spawned (and parked) first */
	struct sact_chan *c, *release;
	uintptr_t frame[NPARKED];
	_Atomic int ready;
	int resident[NPARKED];
	int err;
};

static void parker(void *arg)
{
	struct parked *pk = arg;
	volatile char here = 0;
	long v;
	int i;

	if (sact_chan_recv(pk->c, &v))	/* v: this G's index */
		return;
	i = (int)v;
	pk->frame[i] = (uintptr_t)&here;
	atomic_fetch_add(&pk->ready, 1);
	sact_chan_recv(pk->release, &v);	/* park: the observer looks */
	(void)here;
}

static void filler(void *arg)
{
	struct parked *pk = arg;
	long v;

	sact_chan_recv(pk->release, &v);
}

static void observe(void *arg)
{
	struct parked *pk = arg;
	unsigned char vec[15];
	long i;

	for (i = 0; i < pk->fillers; i++)
		sact_go(filler, pk);
	for (i = 0; i < NPARKED; i++)
		sact_go(parker, pk);
	for (i = 0; i < NPARKED; i++)
		sact_chan_send(pk->c, &i);
	while (atomic_load(&pk->ready) < NPARKED)
		sact_yield();	/* every parker runs to its second recv */
	for (i = 0; i < NPARKED; i++) {
		/* the slot's 60 KiB (15 pages) of stack and struct g, if
		 * the frame is in its top page: ending with the frame's */
		uintptr_t top = (pk->frame[i] & ~(PAGE - 1)) + PAGE;

		if (!pk->frame[i]) {
			pk->err = -1;
			break;
		}
		if (mincore((void *)(top - 15 * PAGE), 15 * PAGE, vec)) {
			pk->err = -errno;
			break;
		}
		for (int j = 0; j < 15; j++)
			pk->resident[i] += vec[j] & 1;
	}
	for (i = 0; i < NPARKED + pk->fillers; i++)
		sact_chan_send(pk->release, &i);
}

FIXTURE(parked) { int unused; };
FIXTURE_SETUP(parked) { }
FIXTURE_TEARDOWN(parked) { }
FIXTURE_VARIANT(parked) { int fillers; };
/* the first stacks: guarded by mprotect, or by a guard region */
FIXTURE_VARIANT_ADD(parked, first) { 0 };
/* past the mprotect budget (max_map_count / 8 = 8191 by default) */
FIXTURE_VARIANT_ADD(parked, past_the_budget) { 10000 };

TEST_F(parked, a_parked_g_has_one_resident_page)
{
	struct sact_config c = st_config(1, -1, SACT_BACKEND_NONE, 0);
	struct parked pk = { .fillers = variant->fillers };
	int i;

	st_native_only();
	if (ST_SANITIZED)
		SKIP(return, "sanitizers' frames and shadow are larger");
	if (variant->fillers && !kernel_has_guard_regions())
		SKIP(return, "no MADV_GUARD_INSTALL (Linux < 6.13): past the "
			     "budget a stack has a canary at its bottom, a "
			     "second page");
	pk.c = sact_chan_new(sizeof(long), 0);
	pk.release = sact_chan_new(sizeof(long), 0);
	ASSERT_NE(NULL, pk.c);
	ASSERT_NE(NULL, pk.release);
	ASSERT_EQ(0, sact_run(&c, observe, &pk));
	ASSERT_EQ(0, pk.err);
	for (i = 0; i < NPARKED; i++)
		EXPECT_EQ(1, pk.resident[i]) TH_LOG("G %d: %d pages", i,
						    pk.resident[i]);
	sact_chan_free(pk.c);
	sact_chan_free(pk.release);
}

/* ---- warm spawn/exit: no fault per G --------------------------------------- */

#define BATCH	100
#define WARM	20000
#define COUNTED	100000

struct loop {
	struct sact_waitgroup wg;
	_Atomic long ran;
	long faults;
};

static void child(void *arg)
{
	struct loop *l = arg;

	atomic_fetch_add(&l->ran, 1);
	sact_wg_done(&l->wg);
}

static void spawn_n(struct loop *l, long n)
{
	for (long i = 0; i < n; i += BATCH) {
		sact_wg_add(&l->wg, BATCH);
		for (int j = 0; j < BATCH; j++)
			sact_go(child, l);
		sact_wg_wait(&l->wg);
	}
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void spawner(void *arg)
{
	struct loop *l = arg;
	long before;

	spawn_n(l, WARM);
	before = minflt();
	spawn_n(l, COUNTED);
	l->faults = minflt() - before;
}

TEST(warm_spawn_exit_takes_no_fault_per_g)
{
	struct sact_config c = st_config(1, -1, SACT_BACKEND_NONE, 0);
	struct loop l = { .wg = SACT_WAITGROUP_INIT };

	st_native_only();
#if defined(__SANITIZE_THREAD__)
	SKIP(return, "TSan faults its shadow of a reused stack anew "
		     "(~0.2 faults per G): the plain and ASan builds count");
#endif
	ASSERT_EQ(0, sact_run(&c, spawner, &l));
	EXPECT_EQ(WARM + COUNTED, atomic_load(&l.ran));
	/* < 0.01 per G: 1000 for 100,000 (the runtime's own are a few) */
	EXPECT_GT(COUNTED / 100, l.faults) TH_LOG("%ld faults", l.faults);
}

/* ---- a burst's stacks go back to the kernel --------------------------------- */

/* sanitizers: shadow (TSan: a fiber) per G; fewer, still past the cache */
#if defined(__SANITIZE_THREAD__)
#define BURST	1500
#elif defined(__SANITIZE_ADDRESS__)
#define BURST	4000
#else
#define BURST	20000
#endif

struct burst {
	struct sact_chan *c;
	_Atomic long parked, ran;
	long rss_peak, rss_after, rss_again;
	uint64_t returned;
};

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (PAGE / 1024);
}

static void burst_g(void *arg)
{
	struct burst *b = arg;
	long v;

	atomic_fetch_add(&b->parked, 1);
	sact_chan_recv(b->c, &v);	/* until the close */
	atomic_fetch_add(&b->ran, 1);
}

/* BURST Gs parked on a fresh channel at once; the RSS then. */
static long burst_park(struct burst *b)
{
	atomic_store(&b->parked, 0);
	atomic_store(&b->ran, 0);
	b->c = sact_chan_new(sizeof(long), 0);
	for (int i = 0; i < BURST; i++)
		if (sact_go(burst_g, b))
			_exit(4);
	while (atomic_load(&b->parked) < BURST)
		sact_yield();
	return rss_kib();
}

/* ... and all of them exited. */
static void burst_release(struct burst *b)
{
	sact_chan_close(b->c);
	while (atomic_load(&b->ran) < BURST)
		sact_yield();
	sact_chan_free(b->c);
}

static void burst_main(void *arg)
{
	struct sact_stats st = { .size = sizeof(st) };
	struct burst *b = arg;

	b->rss_peak = burst_park(b);
	burst_release(b);
	/* dead: 64 in the P's cache, the rest on the global list; the M
	 * cools them whenever it finds nothing to run (this sleep) */
	do {
		sact_sleep_ns(1000000);
		sact_stats(&st);
	} while (st.stacks_returned < BURST - GFREE_CAP - 1024);
	b->returned = st.stacks_returned;
	b->rss_after = rss_kib();
	/* and they are usable again */
	b->rss_again = burst_park(b);
	burst_release(b);
}

TEST(a_burst_gives_its_stacks_back)
{
	struct sact_config c = st_config(1, -1, SACT_BACKEND_NONE, 0);
	static struct burst b;

	st_native_only();
	ASSERT_EQ(0, sact_run(&c, burst_main, &b));
	EXPECT_EQ(BURST, atomic_load(&b.ran));
	EXPECT_LE(BURST - GFREE_CAP - 1024, b.returned);
	if (ST_SANITIZED)
		return;	/* their shadow and fake frames are RSS too */
	/* each parked G held at least a page; all but ~1,100 went back */
	EXPECT_GT(b.rss_peak - (BURST / 2) * (long)(PAGE / 1024), b.rss_after)
		TH_LOG("RSS %ld KiB with %d parked, %ld after", b.rss_peak,
		       BURST, b.rss_after);
	/* a second burst reuses the cold slots: the same again, no more */
	EXPECT_GT(b.rss_peak + (BURST / 4) * (long)(PAGE / 1024), b.rss_again)
		TH_LOG("RSS %ld KiB, again %ld", b.rss_peak, b.rss_again);
}

/* ---- a spawning loop runs what it spawns --------------------------------------- */

#define SPAWNS	(100000 / ST_DIV)

static void spawn_loop(void *arg)
{
	struct loop *l = arg;

	sact_wg_add(&l->wg, SPAWNS);
	for (long i = 0; i < SPAWNS; i++)
		if (sact_go(child, l))
			_exit(4);
	sact_wg_wait(&l->wg);
}

/*
 * One G spawns 100,000 short Gs in a loop at one P: without preemption
 * they would all be alive at once (a resident stack page each) until it
 * waits; sact_go yields to them once its P has half a run queue (128)
 * of them queued.
 */
TEST(a_spawning_loop_keeps_few_gs_alive)
{
	struct sact_config c = st_config(1, -1, SACT_BACKEND_NONE, 0);
	struct sact_stats st = { .size = sizeof(st) };
	struct loop l = { .wg = SACT_WAITGROUP_INIT };

	ASSERT_EQ(0, sact_run(&c, spawn_loop, &l));
	EXPECT_EQ(SPAWNS, atomic_load(&l.ran));
	ASSERT_EQ(0, sact_stats(&st));
	EXPECT_GE(256, st.gs_peak);
	EXPECT_EQ(SPAWNS + 1, st.gs_spawned);
}

/* ---- guards past the mprotect budget ---------------------------------------- */

#define MANY	10000	/* past the budget: max_map_count / 8 = 8191 */

static struct sact_chan *many_c;

static void park_forever(void *arg)
{
	long v;

	(void)arg;
	sact_chan_recv(many_c, &v);
}


static void many_then_overflow(void *arg)
{
	(void)arg;
	many_c = sact_chan_new(sizeof(long), 0);
	for (int i = 0; i < MANY; i++)
		if (sact_go(park_forever, NULL))
			_exit(4);
	/* a slot is taken at sact_go: this one is the 10,002nd */
	if (sact_go(st_overflow, NULL))
		_exit(4);
	for (;;)
		sact_yield();
}

TEST(the_10002nd_stack_has_a_guard)
{
	struct sact_config c = st_config(1, -1, SACT_BACKEND_NONE, 0);
	char msg[4096];
	int status;

	st_native_only();
	if (ST_SANITIZED)
		SKIP(return, "sanitizers handle SIGSEGV themselves");
	if (!kernel_has_guard_regions())
		SKIP(return, "no MADV_GUARD_INSTALL (Linux < 6.13): past the "
			     "budget a stack has a canary, not a guard");
	st_run_child(_metadata, &c, many_then_overflow, NULL, &status, msg,
		     sizeof(msg));
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("stderr: %s", msg);
	EXPECT_EQ(SIGABRT, WTERMSIG(status));
	EXPECT_NE(NULL, strstr(msg, "sact: G stack overflow: a frame ran "
				    "past the bottom")) TH_LOG("stderr: %s", msg);
}

TEST_HARNESS_MAIN
