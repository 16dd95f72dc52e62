// SPDX-License-Identifier: GPL-2.0
/*
 * stress.c - invariant (d): no G is lost or run twice while blocks,
 * unblocks and handoffs race.  NG Gs each do ITERS steps, mixing: a
 * 1-byte read of a pipe that a writer thread (outside the runtime) fills
 * one byte at a time, nanosleep, a futex wait that times out, and
 * computation - half of the Gs through the wrappers, half raw.  At the
 * end: every G started once and did exactly its steps in order, the bytes
 * read add up to the bytes written, the computations to their sum.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

#define NG	48
#define ITERS	16
#define COMP	1000

struct run {
	int pfd[2];
	long nreads;
	_Atomic long byte_sum, comp_sum;
	_Atomic int entered[NG];
	int steps[NG];
	_Atomic int bad_order;
	int ids[NG];
	struct run *self;
};

static struct run *R;

static void g_main(void *arg)
{
	int id = *(int *)arg;
	bool raw = (id % 2) == 0;
	struct timespec ts = { 0, 30000 }, fto = { 0, 20000 };
	uint32_t fw = 0;

	atomic_fetch_add(&R->entered[id], 1);
	for (int i = 0; i < ITERS; i++) {
		unsigned char c = 0;
		volatile long x = 0;

		if (R->steps[id] != i)
			atomic_fetch_add(&R->bad_order, 1);
		switch ((i + id) % 4) {
		case 0:
			if ((raw ? read(R->pfd[0], &c, 1) :
				   sact_read(R->pfd[0], &c, 1)) == 1)
				atomic_fetch_add(&R->byte_sum, c);
			break;
		case 1:
			if (raw)
				nanosleep(&ts, NULL);
			else
				sact_nanosleep(&ts, NULL);
			break;
		case 2:
			if (raw)
				syscall(SYS_futex, &fw, FUTEX_WAIT_PRIVATE, 0,
					&fto, NULL, 0);
			else
				sact_futex_wait(&fw, 0, &fto);
			break;
		case 3:
			for (int k = 0; k < COMP; k++)
				x += k;
			atomic_fetch_add(&R->comp_sum, x);
			if (id % 3 == 0)
				sact_yield();
			break;
		}
		R->steps[id] = i + 1;
	}
}

static void first(void *arg)
{
	struct run *r = arg;

	for (int i = 0; i < NG; i++)
		sact_go(g_main, &r->ids[i]);
}

static void *writer(void *arg)
{
	struct run *r = arg;

	for (long j = 0; j < r->nreads; j++) {
		unsigned char c = (unsigned char)(j % 200 + 1);

		if (write(r->pfd[1], &c, 1) != 1)
			break;
		if (j % 8 == 0)
			usleep(50);
	}
	return NULL;
}

ST_FIXTURE_NOSTRICT(stress);

TEST_F(stress, exact_sums)
{
	static struct run r;
	long want_bytes = 0, ncomp = 0;
	pthread_t w;

	memset(&r, 0, sizeof(r));
	R = &r;
	for (int g = 0; g < NG; g++) {
		r.ids[g] = g;
		for (int i = 0; i < ITERS; i++) {
			if ((i + g) % 4 == 0)
				r.nreads++;
			if ((i + g) % 4 == 3)
				ncomp++;
		}
	}
	for (long j = 0; j < r.nreads; j++)
		want_bytes += j % 200 + 1;
	ASSERT_EQ(0, pipe(r.pfd));
	ASSERT_EQ(0, pthread_create(&w, NULL, writer, &r));
	ASSERT_EQ(0, st_run_standby(variant->nprocs + 2, first,
			    &r));
	pthread_join(w, NULL);
	EXPECT_EQ(variant->backend, sact_backend());
	for (int g = 0; g < NG; g++) {
		EXPECT_EQ(1, atomic_load(&r.entered[g])) TH_LOG("G %d", g);
		EXPECT_EQ(ITERS, r.steps[g]) TH_LOG("G %d", g);
	}
	EXPECT_EQ(0, atomic_load(&r.bad_order));
	EXPECT_EQ(want_bytes, atomic_load(&r.byte_sum));
	EXPECT_EQ(ncomp * (long)COMP * (COMP - 1) / 2,
		  atomic_load(&r.comp_sum));
	close(r.pfd[0]);
	close(r.pfd[1]);
}

TEST_HARNESS_MAIN
