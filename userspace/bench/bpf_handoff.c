// SPDX-License-Identifier: GPL-2.0
/*
 * bpf_handoff.c - handoff latency of the bpf backend's mechanism, with
 * plain pthreads (no scheduler yet), against futex wake-to-run.
 *
 * Workload (one sample): M1 is registered, holds P0, runs "G code" and
 * blocks in a raw read() on an empty pipe; a standby M sleeps in
 * sact_bpf_wait().  Latency = from M1's CLOCK_MONOTONIC stamp just before
 * the syscall to the standby back in user space owning P0.  Then the
 * standby gives P0 back and fills the pipe; M1 finds its P gone
 * (sact_bpf_p_keep() == -EAGAIN), takes P0 again once it is free, and waits
 * until the standby (and the relay) are asleep again before the next
 * sample: every sample pays a real wakeup.
 *
 * Designs, interleaved round by round so that they share the machine's
 * noise (2 vCPUs shared with other work):
 *   ring-per-P    the standby sleeps in epoll on P0's ring
 *   ring+futex    a relay sleeps on the one ring and futex-wakes the standby
 *   futex same    reference: futex wake-to-run, both threads on one CPU
 *   futex other   reference: futex wake-to-run, threads on two CPUs
 * "block->run" also shows the part after the program ran (bpf_ktime at the
 * switch-out to the standby's return), for the bpf designs.
 *
 *   build/bench/bpf_handoff [-n SAMPLES_PER_DESIGN] [-r ROUNDS]
 *
 * Needs root (loads the BPF program).  Default: 10000 samples in 5 rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../lib/bpf_backend.h"

enum { D_PER_P, D_HOP, D_FUTEX_SAME, D_FUTEX_OTHER, ND };
static const char *const names[ND] = {
	"bpf ring-per-P", "bpf ring+futex", "futex same-cpu", "futex other-cpu",
};

struct samples {
	double *v, *k;		/* enter->run, block->run (us) */
	int n;
	int same_cpu;		/* bpf: standby ran where M1 blocked */
};
static struct samples res[ND];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static long futex(uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

static uint64_t ld64(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Spin politely until *p == v. */
static void wait_eq(const int *p, int v)
{
	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) != v)
		sched_yield();
}

/* ---- bpf designs ------------------------------------------------------- */

struct run {
	struct sact_bpf *b;
	int n;
	int pipe[2];
	uint64_t t0;		/* M1's stamp before read() */
	int armed;		/* standby: sample index it is about to wait for */
	uint64_t sb_base;	/* standby's idle_blocks before that wait */
	int sb_slot, sb_ready;
	int relay_slot, relay_ready;
	int relay_done;		/* relay: dispatches so far */
	uint64_t relay_base;	/* relay's idle_blocks after the last one */
	int hop;
	int errors;
	struct samples *out;
};

static void *m1_main(void *arg)
{
	struct run *r = arg;
	int slot = sact_bpf_register(r->b), i;
	struct sact_bpf_m *m = sact_bpf_mslot(r->b, slot);
	const struct sact_bpf_m *sb, *rl = NULL;
	char c;

	if (slot < 0) {
		r->errors++;
		return NULL;
	}
	wait_eq(&r->sb_ready, 1);
	sb = sact_bpf_mslot(r->b, r->sb_slot);
	if (r->hop) {
		wait_eq(&r->relay_ready, 1);
		rl = sact_bpf_mslot(r->b, r->relay_slot);
	}
	for (i = 0; i < r->n; i++) {
		while (sact_bpf_p_acquire(r->b, 0, slot) < 0)
			sched_yield();
		/* The standby (and the relay) must be asleep. */
		wait_eq(&r->armed, i);
		while (ld64(&sb->idle_blocks) <=
		       __atomic_load_n(&r->sb_base, __ATOMIC_ACQUIRE))
			sched_yield();
		if (rl) {
			wait_eq(&r->relay_done, i);
			while (ld64(&rl->idle_blocks) <=
			       __atomic_load_n(&r->relay_base, __ATOMIC_ACQUIRE))
				sched_yield();
		}
		sact_bpf_set_in_g(m, true);
		__atomic_store_n(&r->t0, now_ns(), __ATOMIC_RELEASE);
		if (syscall(SYS_read, r->pipe[0], &c, 1) != 1)
			r->errors++;
		sact_bpf_set_in_g(m, false);
		if (sact_bpf_p_keep(r->b, 0, slot) != -EAGAIN)
			r->errors++;
	}
	sact_bpf_unregister(r->b, slot);
	return NULL;
}

static void *standby_main(void *arg)
{
	struct run *r = arg;
	const struct sact_bpf_m *me;
	struct sact_bpf_event ev;
	int i, p, slot = sact_bpf_register(r->b);

	if (slot < 0) {
		r->errors++;
		return NULL;
	}
	me = sact_bpf_mslot(r->b, slot);
	r->sb_slot = slot;
	__atomic_store_n(&r->sb_ready, 1, __ATOMIC_RELEASE);
	for (i = 0; i < r->n; i++) {
		struct samples *s = r->out;
		uint64_t t1;

		__atomic_store_n(&r->sb_base, ld64(&me->idle_blocks),
				 __ATOMIC_RELEASE);
		__atomic_store_n(&r->armed, i, __ATOMIC_RELEASE);
		p = sact_bpf_wait(r->b, slot, 0, -1, &ev);
		t1 = now_ns();
		if (p != 0) {
			r->errors++;
			break;
		}
		s->v[s->n] = (t1 - __atomic_load_n(&r->t0, __ATOMIC_ACQUIRE)) / 1e3;
		s->k[s->n] = ev.ts_ns ? (t1 - ev.ts_ns) / 1e3 : -1;
		s->same_cpu += sched_getcpu() == (int)ev.cpu;
		s->n++;
		sact_bpf_p_release(r->b, 0, slot);
		if (write(r->pipe[1], "x", 1) != 1)
			r->errors++;
	}
	sact_bpf_unregister(r->b, slot);
	return NULL;
}

static void *relay_main(void *arg)
{
	struct run *r = arg;
	const struct sact_bpf_m *me;
	int n, slot = sact_bpf_register(r->b);

	if (slot < 0) {
		r->errors++;
		return NULL;
	}
	me = sact_bpf_mslot(r->b, slot);
	r->relay_slot = slot;
	__atomic_store_n(&r->relay_ready, 1, __ATOMIC_RELEASE);
	while ((n = sact_bpf_relay(r->b, -1)) >= 0) {
		if (!n)
			continue;
		__atomic_store_n(&r->relay_base, ld64(&me->idle_blocks),
				 __ATOMIC_RELEASE);
		__atomic_fetch_add(&r->relay_done, n, __ATOMIC_RELEASE);
	}
	sact_bpf_unregister(r->b, slot);
	return NULL;
}

static int run_bpf(int design, int n)
{
	struct sact_bpf_opts o = { .size = sizeof(o), .nprocs = 1,
		.wake = design == D_HOP ? SACT_BPF_WAKE_RING_FUTEX
					: SACT_BPF_WAKE_RING_PER_P };
	struct run r = { .n = n, .hop = design == D_HOP, .out = &res[design],
			 .armed = -1 };
	pthread_t m1, sb, rl;
	char why[256];
	int err;

	err = sact_bpf_open(&o, &r.b, why, sizeof(why));
	if (err) {
		fprintf(stderr, "bpf_handoff: %s\n", why);
		return err;
	}
	if (pipe2(r.pipe, O_CLOEXEC)) {
		err = -errno;
		goto out_close;
	}
	if (r.hop)
		pthread_create(&rl, NULL, relay_main, &r);
	pthread_create(&sb, NULL, standby_main, &r);
	pthread_create(&m1, NULL, m1_main, &r);
	pthread_join(m1, NULL);
	pthread_join(sb, NULL);
	sact_bpf_stop(r.b);
	if (r.hop)
		pthread_join(rl, NULL);
	if (r.errors) {
		fprintf(stderr, "bpf_handoff: %s: %d errors\n", names[design],
			r.errors);
		err = -EPROTO;
	}
	close(r.pipe[0]);
	close(r.pipe[1]);
out_close:
	sact_bpf_close(r.b);
	return err;
}

/* ---- futex wake-to-run reference ---------------------------------------- */

struct fx {
	int n;
	uint32_t word;		/* waiter sleeps while 0 */
	uint32_t done;		/* waker sleeps while 0 */
	uint64_t t0;
	int armed;
	struct samples *out;
	int cpu_waker, cpu_waiter;
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Is thread tid asleep (state S)?  /proc, as this reference has no slot. */
static int asleep(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	return p && (p = strrchr(buf, ')')) && p[2] == 'S';
}

static pid_t waiter_tid;

static void *fx_waiter(void *arg)
{
	struct fx *x = arg;
	int i;

	pin(x->cpu_waiter);
	__atomic_store_n(&waiter_tid, gettid(), __ATOMIC_RELEASE);
	for (i = 0; i < x->n; i++) {
		struct samples *s = x->out;
		uint64_t t1;

		__atomic_store_n(&x->armed, i, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&x->word, __ATOMIC_ACQUIRE))
			futex(&x->word, FUTEX_WAIT_PRIVATE, 0);
		t1 = now_ns();
		s->v[s->n] = (t1 - __atomic_load_n(&x->t0, __ATOMIC_ACQUIRE)) / 1e3;
		s->k[s->n] = -1;
		s->n++;
		__atomic_store_n(&x->word, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
		futex(&x->done, FUTEX_WAKE_PRIVATE, 1);
	}
	return NULL;
}

static void run_futex(int design, int n, int cpu0, int cpu1)
{
	struct fx x = { .n = n, .out = &res[design], .armed = -1,
			.cpu_waker = cpu0,
			.cpu_waiter = design == D_FUTEX_SAME ? cpu0 : cpu1 };
	pthread_t t;
	int i;

	waiter_tid = 0;
	pthread_create(&t, NULL, fx_waiter, &x);
	pin(x.cpu_waker);
	for (i = 0; i < n; i++) {
		wait_eq(&x.armed, i);
		while (!asleep(__atomic_load_n(&waiter_tid, __ATOMIC_ACQUIRE)))
			sched_yield();
		__atomic_store_n(&x.done, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&x.t0, now_ns(), __ATOMIC_RELEASE);
		__atomic_store_n(&x.word, 1, __ATOMIC_RELEASE);
		futex(&x.word, FUTEX_WAKE_PRIVATE, 1);
		while (!__atomic_load_n(&x.done, __ATOMIC_ACQUIRE))
			futex(&x.done, FUTEX_WAIT_PRIVATE, 0);
	}
	pthread_join(t, NULL);
	{
		cpu_set_t all;
		int c;

		CPU_ZERO(&all);
		for (c = 0; c < CPU_SETSIZE; c++)
			CPU_SET(c, &all);
		sched_setaffinity(0, sizeof(all), &all);
	}
}

/* ---- report -------------------------------------------------------------- */

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double q)
{
	int i = (int)(q * (n - 1) + 0.5);

	return n ? v[i] : 0;
}

int main(int argc, char **argv)
{
	int n = 10000, rounds = 5, opt, d, i, cpus = sysconf(_SC_NPROCESSORS_ONLN);

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n samples] [-r rounds]\n",
				argv[0]);
			return 2;
		}
	}
	if (n < rounds || rounds < 1)
		return 2;
	for (d = 0; d < ND; d++) {
		res[d].v = calloc(n, sizeof(double));
		res[d].k = calloc(n, sizeof(double));
		if (!res[d].v || !res[d].k)
			return 1;
	}
	for (i = 0; i < rounds; i++) {
		int per = n / rounds + (i < n % rounds);

		for (d = D_PER_P; d <= D_HOP; d++) {
			int err = run_bpf(d, per);

			if (err) {
				fprintf(stderr, "bpf_handoff: %s: %s\n", names[d],
					strerror(-err));
				return 1;
			}
		}
		run_futex(D_FUTEX_SAME, per, 0, 0);
		run_futex(D_FUTEX_OTHER, per, 0, cpus > 1 ? 1 : 0);
	}

	printf("handoff latency, %d samples per design in %d interleaved rounds (us)\n",
	       n, rounds);
	printf("%-16s %7s %8s %8s %8s   %s\n", "design", "n", "p50", "p99",
	       "p999", "block->run p50/p99 (bpf: after the program ran)");
	for (d = 0; d < ND; d++) {
		struct samples *s = &res[d];

		qsort(s->v, s->n, sizeof(double), cmp);
		qsort(s->k, s->n, sizeof(double), cmp);
		printf("%-16s %7d %8.1f %8.1f %8.1f", names[d], s->n,
		       pct(s->v, s->n, 0.50), pct(s->v, s->n, 0.99),
		       pct(s->v, s->n, 0.999));
		if (s->k[0] >= 0)
			printf("   %.1f / %.1f  (standby on M1's CPU: %d%%)",
			       pct(s->k, s->n, 0.50), pct(s->k, s->n, 0.99),
			       100 * s->same_cpu / s->n);
		printf("\n");
	}
	return 0;
}
