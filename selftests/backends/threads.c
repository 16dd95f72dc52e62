// SPDX-License-Identifier: GPL-2.0
/*
 * threads.c - the thread rule: Ms grow only when the standby reserve runs
 * out.  sact_run makes nprocs + standby Ms, plus the template thread (and
 * sysmon's monitor); the template makes more only when fewer than one M is
 * left idle.  So while fewer Gs block in the kernel at once than the
 * reserve covers, the count never grows, whatever the Gs do.  bpf keeps
 * nprocs of the reserve in the Ps' rings and refills a ring from the
 * idle list (or asks the template when that is empty), so the reserve
 * covers standby - nprocs - 1 blocks there, standby - 1 elsewhere.  And
 * under bpf an M back from a raw block whose P was taken runs its G on
 * until the G's next runtime entry (m_lost_p) before it rejoins the
 * reserve: while a loaded machine keeps it there, a ring refill may drain
 * the idle list and the template replace it - off the handoff path, one
 * M per G that blocked at most.  And on every backend an M on its way
 * between two states is counted nowhere: a standby woken to take a P
 * for a handoff or a wakeup, an M back from a block without its P, an M
 * that just idled its P.  A look at the reserve in that window finds it
 * short and the template makes an M too many, which stays as reserve
 * until it retires (proc.c, "Racy, and contained").  How many such looks
 * there are is the machine's timing: in the 4-CPU guest beside another
 * guest, four extra Ms with nprocs 1, one G blocking and 17 handoffs.
 * So the bound on Ms made allows nprocs + late, plus one per two
 * handoffs: an M made per block would still cross it.
 * The thread rule itself holds exactly: no handoff waits for an M
 * (handoff_waits), as long as the blocks fit in the reserve.  Here
 * nprocs Gs block in raw usleep() and wrapped nanosleep(), compute and
 * yield, with standby = 2 * nprocs + 1, while a plain thread counts
 * /proc/self/status's Threads: (minus itself and the main thread, which
 * only waits in sact_run).  Not a G: any G may block where it did not
 * mean to (a page fault waiting for mmap_lock while another M maps a
 * stack), so a sampling G would be one more G that blocks now and then,
 * and the bound would have to allow for its blocks too.  The growth
 * itself is tested in liveness.c.
 * Then what a thread costs: the runtime's threads' own stack size
 * (thread_stack_kb) and the malloc arenas of many Ms (one per P).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

#define ITERS	40

struct run {
	int nwork;
	_Atomic int done;
	int max_threads;
	int samples;
	int arenas;
	struct sact_waitgroup wg;
};

static int count_threads(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "\nThreads:");
	return p ? atoi(p + 9) : -1;
}

static void worker(void *arg)
{
	struct run *r = arg;
	struct timespec ts = { 0, 100000 };
	volatile unsigned long x = 0;

	for (int i = 0; i < ITERS; i++) {
		switch (i % 4) {
		case 0:
			usleep(200);			/* raw: no wrapper */
			break;
		case 1:
			sact_nanosleep(&ts, NULL);	/* wrapped */
			break;
		case 2:
			for (int k = 0; k < 20000; k++)
				x += k;
			break;
		case 3:
			sact_yield();
			break;
		}
	}
	sact_wg_done(&r->wg);
}

/* a plain thread: counts the run's threads until told to stop */
static void *sampler(void *arg)
{
	struct run *r = arg;

	while (!atomic_load(&r->done)) {
		int n = count_threads() - 2;	/* not main, not this one */

		if (n > r->max_threads)
			r->max_threads = n;
		if (n > 0)		/* the run's threads are up */
			r->samples++;
		usleep(100);
	}
	return NULL;
}

static void first(void *arg)
{
	struct run *r = arg;

	sact_wg_add(&r->wg, r->nwork);
	for (int i = 0; i < r->nwork; i++)
		sact_go(worker, r);
	sact_wg_wait(&r->wg);
}

ST_FIXTURE_NOSTRICT(threads);

TEST_F(threads, bounded)
{
	struct run r = { .nwork = variant->nprocs };
	struct sact_stats st = { .size = sizeof(st) };
	int standby = 2 * variant->nprocs + 1;
	int late = variant->backend == SACT_BACKEND_BPF ? r.nwork : 0;
	int ms, bound;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, sampler, &r));
	ASSERT_EQ(0, st_run_standby(standby, first, &r));
	atomic_store(&r.done, 1);
	pthread_join(t, NULL);
	EXPECT_EQ(variant->backend, sact_backend());
	EXPECT_LT(0, r.samples);
	ASSERT_EQ(0, sact_stats(&st));
	TH_LOG("%llu Ms made, %llu handoffs, %llu waited for an M",
	       (unsigned long long)st.ms_created,
	       (unsigned long long)st.handoffs,
	       (unsigned long long)st.handoff_waits);
	EXPECT_EQ(0, st.handoff_waits);
	/* in transit, and the template and sysmon's monitor: see the top */
	ms = 2 * variant->nprocs + standby + late + (int)(st.handoffs / 2);
	bound = ms + 1 + (variant->backend == SACT_BACKEND_SYSMON);
	EXPECT_LE(r.max_threads, bound)
		TH_LOG("%d threads with nprocs %d standby %d", r.max_threads,
		       variant->nprocs, standby);
	EXPECT_LE(st.threads_created, bound);
	EXPECT_LE(variant->nprocs + standby, st.ms_created);
	EXPECT_GE(ms, st.ms_created);
}

/*
 * The runtime's own threads get sact_config.thread_stack_kb of stack
 * (sanitized builds at least 2 MiB), and the deepest paths on an M's own
 * stack fit in the smallest allowed, 64 KiB: handoffs (raw and wrapped
 * blocks, yields, timers) under each backend while a signal handler runs
 * on the Ms now and then.  Overrunning it would fault in the pthread guard
 * page and kill the run.
 */
static _Atomic int sigs;

static void on_sig(int sig)
{
	(void)sig;
	atomic_fetch_add(&sigs, 1);
}

struct stk {
	struct run r;
	size_t seen;
	_Atomic int stop;
};

static void stack_probe(void *arg)
{
	struct stk *k = arg;
	pthread_attr_t a;
	void *addr;
	size_t size = 0;

	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		pthread_attr_getstack(&a, &addr, &size);
		pthread_attr_destroy(&a);
	}
	k->seen = size;
}

/* signals every thread of the process but the main one, until told */
static void *signaller(void *arg)
{
	struct stk *k = arg;

	while (!atomic_load(&k->stop)) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			pid_t t = atoi(e->d_name);

			if (t > 0 && t != getpid() && t != gettid())
				syscall(SYS_tgkill, getpid(), t, SIGUSR1);
		}
		if (d)
			closedir(d);
		usleep(500);
	}
	return NULL;
}

static void stack_first(void *arg)
{
	struct stk *k = arg;

	stack_probe(k);
	first(&k->r);
}

TEST_F(threads, own_stacks_are_the_configured_size)
{
	struct sact_config c = { .standby = -1, .thread_stack_kb = 64 };
	struct sigaction sa = { .sa_handler = on_sig, .sa_flags = SA_RESTART };
	struct stk k = { .r = { .nwork = 2 * variant->nprocs } };
	pthread_t t;

	struct sact_stats st = { .size = sizeof(st) };
	size_t used_max = ST_SANITIZED ? 0 : (size_t)48 << 10;

	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, setenv("SACT_STACK_CHECK", "1", 1));
	ASSERT_EQ(0, pthread_create(&t, NULL, signaller, &k));
	ASSERT_EQ(0, st_run_cfg(&c, stack_first, &k));
	atomic_store(&k.stop, 1);
	pthread_join(t, NULL);
	signal(SIGUSR1, SIG_DFL);
	unsetenv("SACT_STACK_CHECK");
	EXPECT_EQ(ST_SANITIZED ? (size_t)2 << 20 : (size_t)64 << 10, k.seen);
	EXPECT_LT(0, atomic_load(&sigs));
	/* measured: the deepest use leaves a quarter of 64 KiB spare */
	ASSERT_EQ(0, sact_stats(&st));
	TH_LOG("deepest use of a runtime thread's stack: %llu bytes",
	       (unsigned long long)st.thread_stack_used);
	if (!ST_SANITIZED)
		EXPECT_LT(0, st.thread_stack_used);
	EXPECT_GE(used_max, st.thread_stack_used);
	c.thread_stack_kb = 63;
	EXPECT_EQ(-EINVAL, st_run_cfg(&c, stack_first, &k));
}

/*
 * Many Ms calling malloc: glibc would give each its own arena (64 MiB of
 * address space), up to 8 per core; the run limits them to one per P
 * (the main arena counts) unless told otherwise.  Counted with
 * malloc_info: its <heap nr=...> entries, one per arena.
 */
static int count_arenas(void)
{
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int n = 0;

	if (!f)
		return -1;
	malloc_info(0, f);
	fclose(f);
	for (p = buf; (p = strstr(p, "<heap nr=")); p++)
		n++;
	free(buf);
	return n;
}

static void block_then_malloc(void *arg)
{
	struct run *r = arg;

	usleep(20000);			/* raw: each on an M of its own */
	free(malloc(100));
	sact_wg_done(&r->wg);
}

static void malloc_first(void *arg)
{
	struct run *r = arg;

	sact_wg_add(&r->wg, r->nwork);
	for (int i = 0; i < r->nwork; i++)
		sact_go(block_then_malloc, r);
	sact_wg_wait(&r->wg);
	r->arenas = count_arenas();
}

TEST_F(threads, one_malloc_arena_per_p)
{
	struct run r = { .nwork = 32 };

	if (variant->backend == SACT_BACKEND_NONE)
		SKIP(return, "none: the blocked Gs keep their Ms, few Ms malloc");
	if (getenv("MALLOC_ARENA_MAX") || getenv("GLIBC_TUNABLES"))
		SKIP(return, "the environment sets the arenas");
	ASSERT_EQ(0, st_run(malloc_first, &r));
	TH_LOG("%d malloc arenas", r.arenas);
	EXPECT_LE(1, r.arenas);
	EXPECT_GE(variant->nprocs, r.arenas);
}

/*
 * ...and a run that needs no M beyond those sact_run starts (Gs that
 * park, sleep and yield, never block their M) makes no arena at all: the
 * runtime's own threads must not malloc (the template thread's struct m
 * allocations once gave an idle program an arena, 5.6 -> 70 MiB of VSZ).
 * An M made mid-run for blocked Gs does make one: the template thread's
 * pthread_create allocates the new thread's TLS vector with calloc,
 * within the one-per-P limit above.  Counted on the main thread after
 * sact_run returns (arenas outlive their threads).
 */
static void sleep_and_yield(void *arg)
{
	struct run *r = arg;

	sact_sleep_ns(20 * 1000000);
	sact_yield();
	sact_wg_done(&r->wg);
}

static void spawn_sleepers(void *arg)
{
	struct run *r = arg;

	sact_wg_add(&r->wg, r->nwork);
	for (int i = 0; i < r->nwork; i++)
		sact_go(sleep_and_yield, r);
	sact_wg_wait(&r->wg);
}

TEST_F(threads, an_idle_run_makes_no_malloc_arena)
{
	struct run r = { .nwork = 8 };

	if (getenv("MALLOC_ARENA_MAX") || getenv("GLIBC_TUNABLES"))
		SKIP(return, "the environment sets the arenas");
	if (ST_SANITIZED)
		SKIP(return, "the sanitizers' allocators replace malloc");
	ASSERT_EQ(1, count_arenas());
	ASSERT_EQ(0, st_run(spawn_sleepers, &r));
	EXPECT_EQ(1, count_arenas());
}

TEST_HARNESS_MAIN
