// SPDX-License-Identifier: GPL-2.0
/*
 * kmod_handoff.c - handoff latency through sact.ko, next to futex
 * wake-to-run measured in the same run, and the cost of the block path.
 *
 *   scripts/vm-run -- 'sh scripts/vm-setup load build/vm/sact.ko &&
 *                      build/bench/kmod_handoff [samples]'
 *
 * handoff: worker M 0 holds P 0 and blocks in a futex wait; standby M 1 is
 *   parked in SACT_IOC_STANDBY.  Latency = from the worker's timestamp
 *   just before its wait call to the standby's clock_gettime() right after
 *   its ioctl returned with P 0.  Measured with both threads on CPU 0 (the
 *   standby parked on the blocking CPU: the case the module prefers) and
 *   with the standby on CPU 1.
 * block path: a futex ping-pong between a thread on CPU 0 and one on CPU 1
 *   (which answers 20 us late, so the CPU-0 thread sleeps), ns per round
 *   trip, with that thread plain, a registered worker running no G code
 *   (the notifier returns at once), and a worker running G code on P 0
 *   (every block hands P 0 off to FREE, and its unblock runs the
 *   task_work).  The modes alternate batch by batch; medians of the
 *   batches; the thread's sleeps (voluntary switches) per round tell how
 *   many rounds blocked.  Uses only what ABI 1 and 2 share, so one binary
 *   measures an old module and a new one (kmod_handoff N --block-path).
 * futex: thread B takes a timestamp and FUTEX_WAKEs A, which takes one when
 *   its FUTEX_WAIT returns.  Same CPU: B then blocks, so A runs there; cross
 *   CPU: A waits on CPU 1.
 *
 * Prints p50/p99/min of each (ns) and the ratio handoff/futex on one CPU.
 * Not a test: timings under TCG are only comparable within one run.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/sact.h>

static int nsamples = 10000;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s)) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static long futex(uint32_t *u, int op, uint32_t v)
{
	return syscall(SYS_futex, u, op, v, NULL, NULL, 0);
}

static void futex_wait_for(uint32_t *u, uint32_t want)
{
	uint32_t v;

	while ((v = __atomic_load_n(u, __ATOMIC_ACQUIRE)) != want)
		futex(u, FUTEX_WAIT_PRIVATE, v);
}

static void futex_set(uint32_t *u, uint32_t v)
{
	__atomic_store_n(u, v, __ATOMIC_RELEASE);
	futex(u, FUTEX_WAKE_PRIVATE, 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	uint64_t p50, p99, min;
};

static struct stats summarize(const char *name, uint64_t *v, int n)
{
	struct stats s;

	qsort(v, n, sizeof(*v), cmp_u64);
	s.p50 = v[n / 2];
	s.p99 = v[(int)(n * 0.99)];
	s.min = v[0];
	printf("%-28s n=%-6d p50 %8.2f us  p99 %8.2f us  min %8.2f us\n",
	       name, n, s.p50 / 1e3, s.p99 / 1e3, s.min / 1e3);
	return s;
}

/* --- handoff through the module ------------------------------------------ */

static int fd;
static char *shm;
static struct sact_proc *procs;
static struct sact_mslot *ms;
static uint32_t wturn, sturn;	/* worker's and standby's futex words */
static uint64_t *lat, *lat_user;
static uint64_t t_user;		/* worker: just before its futex wait */
static int cpu_w, cpu_s;

static void *worker(void *arg)
{
	struct sact_worker_args a = { .size = sizeof(a), .worker = 0 };
	int i;

	(void)arg;
	pin(cpu_w);
	if (ioctl(fd, SACT_IOC_REGISTER, &a)) {
		perror("register worker");
		exit(1);
	}
	for (i = 0; i < nsamples + 100; i++) {
		/* wait until the standby is parked again */
		while (__atomic_load_n(&ms[1].kstate, __ATOMIC_ACQUIRE) !=
		       SACT_MK_STANDBY)
			sched_yield();
		__atomic_store_n(&procs[0].word, SACT_PW(SACT_P_OWNED, 0),
				 __ATOMIC_RELEASE);
		ms[0].proc = 0;
		__atomic_store_n(&ms[0].state, SACT_M_RUNNING, __ATOMIC_RELEASE);
		__atomic_store_n(&t_user, now_ns(), __ATOMIC_RELEASE);
		futex_wait_for(&wturn, i + 1);	/* blocks: the handoff */
		__atomic_store_n(&ms[0].state, SACT_M_IDLE, __ATOMIC_RELEASE);
	}
	ioctl(fd, SACT_IOC_UNREGISTER, &a);
	return NULL;
}

static void *standby(void *arg)
{
	struct sact_worker_args a = { .size = sizeof(a), .worker = 1 };
	struct sact_standby s = { .size = sizeof(s) };
	uint64_t t1;
	int i, p;

	(void)arg;
	pin(cpu_s);
	if (ioctl(fd, SACT_IOC_REGISTER, &a)) {
		perror("register standby");
		exit(1);
	}
	for (i = 0; i < nsamples + 100; i++) {
		p = ioctl(fd, SACT_IOC_STANDBY, &s);
		t1 = now_ns();
		if (p != 0) {
			fprintf(stderr, "standby: %d (%s)\n", p, strerror(errno));
			exit(1);
		}
		if (i >= 100)			/* warm-up */
			lat_user[i - 100] = t1 -
				__atomic_load_n(&t_user, __ATOMIC_ACQUIRE);
		futex_set(&wturn, i + 1);	/* let the worker go on */
	}
	return NULL;
}

static struct stats bench_handoff(const char *name, int cw, int cs)
{
	pthread_t w, s;

	fd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror(SACT_DEVICE);
		exit(1);
	}
	shm = mmap(NULL, SACT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (shm == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	procs = (void *)(shm + SACT_SHM_PROCS_OFFSET);
	ms = (void *)(shm + SACT_SHM_WORKERS_OFFSET);
	wturn = sturn = 0;
	cpu_w = cw;
	cpu_s = cs;
	pthread_create(&s, NULL, standby, NULL);
	pthread_create(&w, NULL, worker, NULL);
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	munmap(shm, SACT_SHM_SIZE);
	close(fd);
	return summarize(name, lat_user, nsamples);
}

/* --- futex wake-to-run ------------------------------------------------------ */

static uint32_t fa, fb;
static uint64_t t0;
static int fcpu_a, fcpu_b, same_cpu;

static void *futex_a(void *arg)
{
	int i;

	(void)arg;
	pin(fcpu_a);
	for (i = 0; i < nsamples + 100; i++) {
		futex_wait_for(&fa, i + 1);
		if (i >= 100)
			lat[i - 100] = now_ns() - t0;
		futex_set(&fb, i + 1);
	}
	return NULL;
}

static void *futex_b(void *arg)
{
	int i;

	(void)arg;
	pin(fcpu_b);
	for (i = 0; i < nsamples + 100; i++) {
		/* let A get to its wait (same CPU: A runs while we sleep) */
		usleep(same_cpu ? 0 : 20);
		t0 = now_ns();
		futex_set(&fa, i + 1);
		futex_wait_for(&fb, i + 1);
	}
	return NULL;
}

static struct stats bench_futex(const char *name, int ca, int cb)
{
	pthread_t a, b;

	fa = fb = 0;
	fcpu_a = ca;
	fcpu_b = cb;
	same_cpu = ca == cb;
	pthread_create(&a, NULL, futex_a, NULL);
	pthread_create(&b, NULL, futex_b, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return summarize(name, lat, nsamples);
}

/* --- the block path ---------------------------------------------------------- */

enum { BP_PLAIN, BP_IDLE, BP_RUNNING, BP_MODES };
static const char *const bp_names[BP_MODES] = {
	"plain thread", "worker, no G code", "worker, G code on P 0",
};
static uint32_t bp_a, bp_b;
static int bp_rounds = 2000;

static void *bp_partner(void *arg)
{
	int i;

	(void)arg;
	pin(1);
	for (i = 1; i <= bp_rounds; i++) {
		uint64_t t;

		futex_wait_for(&bp_b, i);
		/* answer late enough that the other thread is asleep */
		for (t = now_ns(); now_ns() - t < 20000;)
			;
		futex_set(&bp_a, i);
	}
	return NULL;
}

/* This thread's voluntary context switches: its blocks, in any mode. */
static uint64_t nvcsw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

/*
 * One batch in @mode: ns per round trip; *blocks: the module's count,
 * *sleeps: the thread's voluntary switches (a round whose answer came
 * before the wait slept does not block).
 */
static uint64_t bp_batch(int mode, uint64_t *blocks, uint64_t *sleeps)
{
	struct sact_worker_args a = { .size = sizeof(a), .worker = 0 };
	struct sact_counters c = { .size = sizeof(c) };
	uint64_t t0, t1;
	pthread_t t;
	int i;

	fd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);
	shm = mmap(NULL, SACT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (fd < 0 || shm == MAP_FAILED) {
		perror("sact group");
		exit(1);
	}
	procs = (void *)(shm + SACT_SHM_PROCS_OFFSET);
	ms = (void *)(shm + SACT_SHM_WORKERS_OFFSET);
	if (mode != BP_PLAIN && ioctl(fd, SACT_IOC_REGISTER, &a)) {
		perror("register");
		exit(1);
	}
	bp_a = bp_b = 0;
	pthread_create(&t, NULL, bp_partner, NULL);
	*sleeps = nvcsw();
	t0 = now_ns();
	for (i = 1; i <= bp_rounds; i++) {
		if (mode == BP_RUNNING) {
			__atomic_store_n(&procs[0].word,
					 SACT_PW(SACT_P_OWNED, 0),
					 __ATOMIC_RELAXED);
			ms[0].proc = 0;
			__atomic_store_n(&ms[0].state, SACT_M_RUNNING,
					 __ATOMIC_RELEASE);
		}
		futex_set(&bp_b, i);
		futex_wait_for(&bp_a, i);
		if (mode == BP_RUNNING)
			__atomic_store_n(&ms[0].state, SACT_M_IDLE,
					 __ATOMIC_RELEASE);
	}
	t1 = now_ns();
	*sleeps = nvcsw() - *sleeps;
	pthread_join(t, NULL);
	*blocks = ioctl(fd, SACT_IOC_COUNTERS, &c) ? 0 : c.blocks;
	if (mode != BP_PLAIN)
		ioctl(fd, SACT_IOC_UNREGISTER, &a);
	munmap(shm, SACT_SHM_SIZE);
	close(fd);
	return (t1 - t0) / bp_rounds;
}

static void bench_block_path(int batches)
{
	uint64_t *v[BP_MODES], blocks[BP_MODES] = { 0 }, b;
	uint64_t sleeps[BP_MODES] = { 0 }, sl;
	struct stats s[BP_MODES];
	int i, m;

	pin(0);
	for (m = 0; m < BP_MODES; m++)
		v[m] = calloc(batches, sizeof(*v[m]));
	for (i = 0; i < batches; i++)
		for (m = 0; m < BP_MODES; m++) {
			v[m][i] = bp_batch(m, &b, &sl);
			blocks[m] += b;
			sleeps[m] += sl;
		}
	printf("block path: futex ping-pong CPU 0 <-> CPU 1, %d batches of %d "
	       "round trips, ns per round trip (p50 of batches)\n",
	       batches, bp_rounds);
	for (m = 0; m < BP_MODES; m++) {
		qsort(v[m], batches, sizeof(*v[m]), cmp_u64);
		s[m].p50 = v[m][batches / 2];
		s[m].min = v[m][0];
		printf("  %-24s p50 %8llu ns  min %8llu ns  sleeps %.3f, "
		       "blocks counted %.3f per round\n", bp_names[m],
		       (unsigned long long)s[m].p50,
		       (unsigned long long)s[m].min,
		       (double)sleeps[m] / batches / bp_rounds,
		       (double)blocks[m] / batches / bp_rounds);
	}
	printf("block path cost per round (G code - plain), p50: %lld ns; "
	       "idle worker - plain: %lld ns\n",
	       (long long)(s[BP_RUNNING].p50 - s[BP_PLAIN].p50),
	       (long long)(s[BP_IDLE].p50 - s[BP_PLAIN].p50));
	/* the same for scripts/bench (blockpath) */
	printf("block_path plain_ns=%llu idle_ns=%llu gcode_ns=%llu "
	       "cost_ns=%lld blocks_per_round=%.3f\n",
	       (unsigned long long)s[BP_PLAIN].p50,
	       (unsigned long long)s[BP_IDLE].p50,
	       (unsigned long long)s[BP_RUNNING].p50,
	       (long long)(s[BP_RUNNING].p50 - s[BP_PLAIN].p50),
	       (double)blocks[BP_RUNNING] / batches / bp_rounds);
}

int main(int argc, char **argv)
{
	struct stats fs, hs;
	int ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (argc > 1)
		nsamples = atoi(argv[1]);
	if (nsamples < 100)
		nsamples = 100;
	lat = calloc(nsamples, sizeof(*lat));
	lat_user = calloc(nsamples, sizeof(*lat_user));
	if (argc > 2 && !strcmp(argv[2], "--block-path")) {
		if (ncpu < 2) {
			fprintf(stderr, "block path: needs 2 CPUs\n");
			return 1;
		}
		bench_block_path(nsamples / 100);
		return 0;
	}
	printf("sact handoff vs futex wake-to-run, %d samples each, %d CPUs\n",
	       nsamples, ncpu);
	fs = bench_futex("futex wake, same CPU", 0, 0);
	if (ncpu > 1)
		bench_futex("futex wake, cross CPU", 1, 0);
	hs = bench_handoff("sact handoff, same CPU", 0, 0);
	if (ncpu > 1)
		bench_handoff("sact handoff, cross CPU", 0, 1);
	printf("ratio handoff (from the worker's wait call) / futex wake, "
	       "same CPU, p50: %.2f\n", (double)hs.p50 / fs.p50);
	if (ncpu > 1)
		bench_block_path(nsamples / 500 < 5 ? 5 : nsamples / 500);
	return 0;
}
