// SPDX-License-Identifier: GPL-2.0
/*
 * isolation - the demo of `make demo`: blocking Gs should not slow the
 * compute Gs beside them.  Shown under each backend, one after the other.
 *
 * The workload, the same under every backend: 2 Ps (nprocs=2), 4 standby
 * Ms, and
 *   - 4 I/O Gs, each reading its own pipe one byte at a time with plain
 *     read(2) (as a library would: the runtime never sees the call), and
 *     sleeping 2 ms after each byte in sact_nanosleep (a wrapped call: the
 *     runtime sees it, the M still blocks in the kernel).  A feeder thread
 *     outside the runtime writes one byte per pipe every 10 ms, so the
 *     reads block most of the time;
 *   - 2 compute Gs, each with a fixed number of ~1 ms chunks of arithmetic
 *     (calibrated once at start, so every backend gets the same work),
 *     yielding between chunks like well-behaved cooperative code.
 * Under "none" an M blocked in read() or nanosleep keeps its P: while two
 * I/O Gs wait, compute stops.  "sysmon" (Go's way) retakes a P from an M
 * that sits in a wrapped call for more than 20 us, so it recovers the
 * sleeps but never sees the raw reads.  "kmod" hands the P over the
 * moment any M blocks, wrapped or not.  "bpf" runs too when the runtime
 * has it (else a note says it was skipped).
 *
 * Once a second a line shows each run's compute progress, the bytes read,
 * the handoffs (the runtime's count; for kmod the module's own counter)
 * and the OS threads of the process (/proc/self/task: the runtime's Ms and
 * monitor, plus this program's main and feeder threads).  The end is a
 * verdict, one line per backend.
 *
 * Run it:
 *   make demo                        in the QEMU VM (loads sact.ko first)
 *   sudo insmod build/kmod/sact.ko && build/demos/isolation   real host
 *   build/demos/isolation --backends none,sysmon     without the module
 * Options: --short (small workload, then the checks of demo.h),
 * --backends LIST (comma separated; default none,sysmon,kmod,bpf).
 */
#include "demo.h"

#define NPROCS		2
#define STANDBY		4
#define NIO		4
#define NCOMP		2
#define FEED_NS		10000000	/* a byte per pipe every 10 ms */
#define SLEEP_NS	2000000		/* I/O G's nanosleep */
#define CHUNK_NS	1000000		/* a compute chunk */
#define MAXB		4

struct result {
	enum sact_backend b;
	int err;			/* sact_run's */
	double compute_s;		/* start to the last compute chunk */
	double total_s;
	uint64_t handoffs;		/* what the verdict says */
	int threads;			/* most seen in /proc/self/task */
	struct sact_stats st;
	struct sact_counters kc;	/* kmod: the module's, at the end */
	bool have_kc;
	uint64_t chunks, reads, sleeps, bad_bytes;
};

/* Sizes: full demo, or --short. */
static int nreads;			/* per I/O G */
static uint64_t nchunks;		/* per compute G */
static unsigned long chunk_iters;	/* arithmetic per chunk */

/* The run in progress.  The first G sets active; the feeder looks. */
static struct {
	enum sact_backend b;
	int pfd[NIO][2];
	int written[NIO];		/* feeder only */
	_Atomic int active;
	_Atomic uint64_t chunks, reads, sleeps, bad_bytes;
	_Atomic int comp_left;
	_Atomic int threads_peak;
	int64_t t0, tcomp;
	struct sact_waitgroup wg;
} run;

static _Atomic int quit;
static volatile uint64_t sink;

/* About CHUNK_NS of arithmetic the compiler cannot drop. */
static void work(unsigned long iters)
{
	uint64_t x = sink | 1;

	for (unsigned long i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	sink = x;
}

static void calibrate(void)
{
	unsigned long n = 20000;
	int64_t t;

	for (;;) {
		t = demo_now_ns();
		work(n);
		t = demo_now_ns() - t;
		if (t >= 20000000 || n > (1UL << 34))
			break;
		n *= 2;
	}
	chunk_iters = (unsigned long)((double)n * CHUNK_NS / (double)t) + 1;
}

static void note_threads(void)
{
	int n = demo_threads(), old = atomic_load(&run.threads_peak);

	while (n > old && !atomic_compare_exchange_weak(&run.threads_peak,
							 &old, n))
		;
}

/* The handoffs to show: the module's counter under kmod. */
static uint64_t live_handoffs(void)
{
	struct sact_stats st = { .size = sizeof(st) };
	struct sact_counters kc;

	if (run.b == SACT_BACKEND_KMOD)
		return demo_kcounters(&kc) ? 0 : kc.handoffs;
	sact_stats(&st);
	return st.handoffs;
}

static void show(const char *name, double t, uint64_t handoffs, int threads)
{
	uint64_t c = atomic_load(&run.chunks);

	printf("  %-6s %5.1f s  compute %3d%%  bytes read %4llu/%d  "
	       "handoffs %6llu  threads %d\n", name, t,
	       (int)(100 * c / (NCOMP * nchunks)),
	       (unsigned long long)atomic_load(&run.reads), NIO * nreads,
	       (unsigned long long)handoffs, threads);
	fflush(stdout);
}

/*
 * The outside world: feeds the pipes at a steady pace while a run is
 * active, samples the thread count, and prints the live line each second.
 */
static void *feeder(void *arg)
{
	struct timespec next;
	int64_t t0 = 0, shown = 0;	/* the run, and its lines shown */

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load(&quit)) {
		if (atomic_load_explicit(&run.active, memory_order_acquire)) {
			int64_t now = demo_now_ns();

			for (int i = 0; i < NIO; i++) {
				char c = (char)run.written[i];

				if (run.written[i] < nreads &&
				    write(run.pfd[i][1], &c, 1) == 1)
					run.written[i]++;
			}
			note_threads();
			if (run.t0 != t0) {
				t0 = run.t0;
				shown = 0;
			}
			if (now - t0 >= (shown + 1) * 1000000000) {
				shown++;
				show(sact_backend_name(run.b), (now - t0) / 1e9,
				     live_handoffs(), demo_threads());
			}
		}
		next.tv_nsec += FEED_NS;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

static void compute_g(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < nchunks; i++) {
		work(chunk_iters);
		atomic_fetch_add(&run.chunks, 1);
		sact_yield();
	}
	if (atomic_fetch_sub(&run.comp_left, 1) == 1)
		run.tcomp = demo_now_ns();
	sact_wg_done(&run.wg);
}

static void io_g(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct timespec ts = { 0, SLEEP_NS };

	for (int k = 0; k < nreads; k++) {
		unsigned char c;

		if (read(run.pfd[i][0], &c, 1) != 1 || c != (unsigned char)k)
			atomic_fetch_add(&run.bad_bytes, 1);	/* raw */
		atomic_fetch_add(&run.reads, 1);
		sact_nanosleep(&ts, NULL);			/* wrapped */
		atomic_fetch_add(&run.sleeps, 1);
	}
	sact_wg_done(&run.wg);
}

static void first_g(void *arg)
{
	struct result *r = arg;

	run.t0 = demo_now_ns();
	atomic_store_explicit(&run.active, 1, memory_order_release);
	sact_wg_add(&run.wg, NIO + NCOMP);
	for (int i = 0; i < NCOMP; i++)
		sact_go(compute_g, NULL);
	for (int i = 0; i < NIO; i++)
		sact_go(io_g, (void *)(intptr_t)i);
	sact_wg_wait(&run.wg);
	atomic_store(&run.active, 0);
	note_threads();
	/* the runtime's count first: the module's can only have grown */
	r->st.size = sizeof(r->st);
	sact_stats(&r->st);
	r->have_kc = r->b == SACT_BACKEND_KMOD && demo_kcounters(&r->kc) == 0;
}

static void run_one(struct result *r)
{
	struct sact_config c = demo_config(NPROCS, STANDBY, r->b);
	int64_t t;

	memset(&run, 0, sizeof(run));
	run.b = r->b;
	atomic_store(&run.comp_left, NCOMP);
	for (int i = 0; i < NIO; i++)
		if (pipe2(run.pfd[i], O_CLOEXEC)) {
			perror("pipe");
			exit(1);
		}
	t = demo_now_ns();
	r->err = sact_run(&c, first_g, r);
	atomic_store(&run.active, 0);
	for (int i = 0; i < NIO; i++) {
		close(run.pfd[i][0]);
		close(run.pfd[i][1]);
	}
	if (r->err)
		return;
	r->total_s = (demo_now_ns() - t) / 1e9;
	r->compute_s = (run.tcomp - run.t0) / 1e9;
	r->chunks = run.chunks;
	r->reads = run.reads;
	r->sleeps = run.sleeps;
	r->bad_bytes = run.bad_bytes;
	r->threads = run.threads_peak;
	r->handoffs = r->have_kc ? r->kc.handoffs : r->st.handoffs;
	show(sact_backend_name(r->b), r->total_s, r->handoffs, r->threads);
}

static void verdict(struct result *res, int n)
{
	const struct result *none = NULL;

	for (int i = 0; i < n; i++)
		if (res[i].b == SACT_BACKEND_NONE && !res[i].err)
			none = &res[i];
	printf("verdict:\n");
	for (int i = 0; i < n; i++) {
		const struct result *r = &res[i];
		const char *name = sact_backend_name(r->b);

		if (r->err) {
			printf("  %-6s: skipped (%s)\n", name,
			       r->err == -ENODEV && r->b == SACT_BACKEND_KMOD ?
			       "no /dev/sact: load sact.ko" :
			       r->err == -ENODEV ? "not available here" :
			       strerror(-r->err));
			continue;
		}
		printf("  %-6s: compute took %.2f s (all done %.2f s), %llu "
		       "handoffs, %d threads", name, r->compute_s, r->total_s,
		       (unsigned long long)r->handoffs, r->threads);
		if (none && r != none && r->compute_s > 0)
			printf("; compute %.1fx faster than none",
			       none->compute_s / r->compute_s);
		printf("\n");
	}
}

/* --short: the verdict against the figures it was made from. */
static void self_check(struct result *res, int n)
{
	for (int i = 0; i < n; i++) {
		const struct result *r = &res[i];
		const char *name = sact_backend_name(r->b);

		if (r->err)
			continue;
		printf("# raw %s: compute_s=%.2f handoffs=%llu threads=%d "
		       "rt_handoffs=%llu threads_created=%llu chunks=%llu "
		       "reads=%llu sleeps=%llu bad=%llu", name, r->compute_s,
		       (unsigned long long)r->handoffs, r->threads,
		       (unsigned long long)r->st.handoffs,
		       (unsigned long long)r->st.threads_created,
		       (unsigned long long)r->chunks,
		       (unsigned long long)r->reads,
		       (unsigned long long)r->sleeps,
		       (unsigned long long)r->bad_bytes);
		if (r->have_kc)
			printf(" kblocks=%llu khandoffs=%llu kupcalls=%llu "
			       "kstrict_parks=%llu kgrants=%llu",
			       (unsigned long long)r->kc.blocks,
			       (unsigned long long)r->kc.handoffs,
			       (unsigned long long)r->kc.upcalls,
			       (unsigned long long)r->kc.strict_parks,
			       (unsigned long long)r->kc.grants);
		printf("\n");
		demo_check(r->chunks == NCOMP * nchunks && r->reads ==
			   (uint64_t)NIO * nreads && r->bad_bytes == 0,
			   "%s: all compute done, every byte read in order",
			   name);
		/* main + feeder + what the runtime created, all along */
		demo_check((uint64_t)r->threads == r->st.threads_created + 2,
			   "%s: %d threads = %llu of the runtime + main + feeder",
			   name, r->threads,
			   (unsigned long long)r->st.threads_created);
		if (r->b == SACT_BACKEND_NONE)
			demo_check(r->handoffs == 0, "none: no handoff");
		if (r->b == SACT_BACKEND_KMOD) {
			demo_check(r->have_kc, "kmod: the module's counters read");
			demo_check(r->kc.handoffs >= 1 &&
				   r->kc.handoffs >= r->st.handoffs,
				   "kmod: module handoffs %llu >= 1 and >= the "
				   "runtime's takeovers %llu",
				   (unsigned long long)r->kc.handoffs,
				   (unsigned long long)r->st.handoffs);
			/*
			 * Every handoff follows a block.  (Not "a block per
			 * 2 ms nanosleep": on a busy host a guest's vCPU can
			 * stall past the timer before the sleeper schedules,
			 * and then it does not block at all.)
			 */
			demo_check(r->kc.blocks >= r->kc.handoffs,
				   "kmod: module saw %llu blocks >= its %llu "
				   "handoffs", (unsigned long long)r->kc.blocks,
				   (unsigned long long)r->kc.handoffs);
		}
	}
}

int main(int argc, char **argv)
{
	const char *list = "none,sysmon,kmod,bpf";
	struct result res[MAXB];
	bool short_mode = false;
	pthread_t feed;
	char buf[128], *tok, *save;
	int n = 0, ran = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--short")) {
			short_mode = true;
		} else if (!strcmp(argv[i], "--backends") && i + 1 < argc) {
			list = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--short] [--backends "
				"none,sysmon,kmod,bpf]\n", argv[0]);
			return 2;
		}
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok && n < MAXB;
	     tok = strtok_r(NULL, ",", &save)) {
		int b = demo_backend_of(tok);

		if (b <= SACT_BACKEND_AUTO) {
			fprintf(stderr, "isolation: unknown backend %s\n", tok);
			return 2;
		}
		memset(&res[n], 0, sizeof(res[n]));
		res[n++].b = (enum sact_backend)b;
	}
	nreads = short_mode ? 40 : 200;
	calibrate();
	nchunks = short_mode ? 400 : 2500;
	printf("isolation: %d Ps; %d Gs blocking in read(2) on pipes fed every "
	       "%d ms, and in a 2 ms nanosleep; %d compute Gs with %llu x 1 ms "
	       "of work each\n", NPROCS, NIO, FEED_NS / 1000000, NCOMP,
	       (unsigned long long)nchunks);
	fflush(stdout);
	if (pthread_create(&feed, NULL, feeder, NULL)) {
		fprintf(stderr, "isolation: cannot start the feeder\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		printf("--- %s\n", sact_backend_name(res[i].b));
		fflush(stdout);
		run_one(&res[i]);
		if (res[i].err)
			printf("  %s: skipped: sact_run: %s\n",
			       sact_backend_name(res[i].b), strerror(-res[i].err));
		else
			ran++;
	}
	atomic_store(&quit, 1);
	pthread_join(feed, NULL);
	verdict(res, n);
	if (!short_mode)
		return 0;
	self_check(res, n);
	if (!ran) {
		printf("isolation: no backend could run\n");
		return DEMO_SKIP;
	}
	return demo_status();
}
