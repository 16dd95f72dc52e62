// SPDX-License-Identifier: GPL-2.0
/*
 * chan.c - channels: producers and consumers with exact sums (buffered and
 * unbuffered), ping-pong, FIFO order, close semantics, try and timeout
 * forms, select over several channels.
 */
#include <errno.h>
#include <stdio.h>

#include <sact.h>

#include "sact_test.h"

ST_FIXTURE(chan);

struct pc {
	struct sact_chan *c;
	struct sact_waitgroup prod, cons;
	atomic_long sum, count;
	int producers, consumers;
	long per;
	atomic_int errs;
};

static void producer(void *arg)
{
	struct pc *t = arg;

	for (long i = 1; i <= t->per; i++)
		if (sact_chan_send(t->c, &i))
			atomic_fetch_add(&t->errs, 1);
	sact_wg_done(&t->prod);
}

static void consumer(void *arg)
{
	struct pc *t = arg;
	long v, sum = 0, n = 0;

	while (sact_chan_recv(t->c, &v) == 0) {
		sum += v;
		n++;
	}
	atomic_fetch_add(&t->sum, sum);
	atomic_fetch_add(&t->count, n);
	sact_wg_done(&t->cons);
}

static void pc_main(void *arg)
{
	struct pc *t = arg;

	sact_wg_add(&t->prod, t->producers);
	sact_wg_add(&t->cons, t->consumers);
	for (int i = 0; i < t->consumers; i++)
		sact_go(consumer, t);
	for (int i = 0; i < t->producers; i++)
		sact_go(producer, t);
	sact_wg_wait(&t->prod);
	sact_chan_close(t->c);
	sact_wg_wait(&t->cons);
}

static void run_pc(struct __test_metadata *_metadata,
		   const FIXTURE_VARIANT(chan) *variant, size_t cap)
{
	struct pc t = { .producers = 4, .consumers = 3,
			.per = ST_SCALE(20000) };

	t.c = sact_chan_new(sizeof(long), cap);
	ASSERT_NE(NULL, t.c);
	ASSERT_EQ(0, st_run(pc_main, &t));
	EXPECT_EQ(0, atomic_load(&t.errs));
	EXPECT_EQ(t.producers * t.per, atomic_load(&t.count));
	EXPECT_EQ(t.producers * t.per * (t.per + 1) / 2,
		  atomic_load(&t.sum));
	sact_chan_free(t.c);
}

TEST_F(chan, producers_consumers_unbuffered)
{
	run_pc(_metadata, variant, 0);
}

TEST_F(chan, producers_consumers_buffered)
{
	run_pc(_metadata, variant, 64);
}

/* Ping-pong between two Gs over two unbuffered channels. */
struct pp {
	struct sact_chan *ping, *pong;
	long n, last;
	int order_bad;
};

static void ponger(void *arg)
{
	struct pp *p = arg;
	long v;

	while (sact_chan_recv(p->ping, &v) == 0) {
		v++;
		sact_chan_send(p->pong, &v);
	}
}

static void pinger(void *arg)
{
	struct pp *p = arg;
	long v = 0;

	sact_go(ponger, p);
	for (long i = 0; i < p->n; i++) {
		long want = v + 1;

		sact_chan_send(p->ping, &v);
		sact_chan_recv(p->pong, &v);
		if (v != want)
			p->order_bad++;
	}
	p->last = v;
	sact_chan_close(p->ping);
}

TEST_F(chan, ping_pong)
{
	struct pp p = { .n = ST_SCALE(50000) };

	p.ping = sact_chan_new(sizeof(long), 0);
	p.pong = sact_chan_new(sizeof(long), 0);
	ASSERT_EQ(0, st_run(pinger, &p));
	EXPECT_EQ(p.n, p.last);
	EXPECT_EQ(0, p.order_bad);
	sact_chan_free(p.ping);
	sact_chan_free(p.pong);
}

/* One producer, one consumer: FIFO order through a full buffer. */
struct fifo {
	struct sact_chan *c;
	long n;
	int bad;
};

static void fifo_consumer(void *arg)
{
	struct fifo *f = arg;
	long v, want = 0;

	while (sact_chan_recv(f->c, &v) == 0)
		if (v != want++)
			f->bad++;
	if (want != f->n)
		f->bad++;
}

static void fifo_main(void *arg)
{
	struct fifo *f = arg;

	sact_go(fifo_consumer, f);
	for (long i = 0; i < f->n; i++)
		sact_chan_send(f->c, &i);
	sact_chan_close(f->c);
}

TEST_F(chan, fifo_order)
{
	struct fifo f = { .n = ST_SCALE(20000) };

	f.c = sact_chan_new(sizeof(long), 4);
	ASSERT_EQ(0, st_run(fifo_main, &f));
	EXPECT_EQ(0, f.bad);
	sact_chan_free(f.c);
}

/* close, try, timeout. */
struct forms {
	int try_empty, try_full, send_to, recv_to, closed_send, closed_recv,
		drained, close_again, blocked_recv, blocked_send;
	long got;
};

static struct sact_chan *cb;

static void blocked_receiver(void *arg)
{
	struct forms *f = arg;
	long v = 5;

	f->blocked_recv = sact_chan_recv(cb, &v);
	if (v != 0)
		f->blocked_recv = 99;
}

static void blocked_sender(void *arg)
{
	struct forms *f = arg;
	long v = 1;

	f->blocked_send = sact_chan_send(cb, &v);
}

static void forms_main(void *arg)
{
	struct forms *f = arg;
	struct sact_chan *c = sact_chan_new(sizeof(long), 1);
	long v = 42;

	f->try_empty = sact_chan_tryrecv(c, &v);
	f->recv_to = sact_chan_recv_timeout(c, &v, 1000000);
	sact_chan_send(c, &v);
	f->try_full = sact_chan_trysend(c, &v);
	f->send_to = sact_chan_send_timeout(c, &v, 1000000);
	sact_chan_close(c);
	f->closed_send = sact_chan_send(c, &v);
	f->drained = sact_chan_recv(c, &f->got);
	f->closed_recv = sact_chan_recv(c, &v);
	f->close_again = sact_chan_close(c);
	sact_chan_free(c);

	/* close wakes a parked receiver and a parked sender */
	cb = sact_chan_new(sizeof(long), 0);
	sact_go(blocked_receiver, f);
	sact_sleep_ns(2000000);
	sact_chan_close(cb);
	sact_sleep_ns(2000000);
	sact_chan_free(cb);
	cb = sact_chan_new(sizeof(long), 0);
	sact_go(blocked_sender, f);
	sact_sleep_ns(2000000);
	sact_chan_close(cb);
	sact_sleep_ns(2000000);
}

TEST_F(chan, close_try_timeout)
{
	struct forms f = { 0 };

	f.blocked_recv = f.blocked_send = 77;
	ASSERT_EQ(0, st_run(forms_main, &f));
	EXPECT_EQ(-EAGAIN, f.try_empty);
	EXPECT_EQ(-ETIMEDOUT, f.recv_to);
	EXPECT_EQ(-EAGAIN, f.try_full);
	EXPECT_EQ(-ETIMEDOUT, f.send_to);
	EXPECT_EQ(-EPIPE, f.closed_send);
	EXPECT_EQ(0, f.drained);
	EXPECT_EQ(42, f.got);
	EXPECT_EQ(-EPIPE, f.closed_recv);
	EXPECT_EQ(-EPIPE, f.close_again);
	EXPECT_EQ(-EPIPE, f.blocked_recv);
	EXPECT_EQ(-EPIPE, f.blocked_send);
	sact_chan_free(cb);
}

/* ---- select ------------------------------------------------------------------ */

#define NSRC 4
struct sel {
	struct sact_chan *src[NSRC];
	struct sact_chan *quit;		/* select mixes recv and send */
	long per, sum, count;
	int closed_seen;
	long quit_sent;
};

struct src_arg {
	struct sact_chan *c;
	long per;
};

static void src_producer(void *arg)
{
	struct src_arg *a = arg;

	for (long i = 1; i <= a->per; i++)
		sact_chan_send(a->c, &i);
	sact_chan_close(a->c);
}

static void quit_receiver(void *arg)
{
	struct sel *s = arg;
	long v;

	while (sact_chan_recv(s->quit, &v) == 0)
		s->quit_sent++;
}

static void sel_main(void *arg)
{
	struct sel *s = arg;
	struct src_arg a[NSRC];
	struct sact_sel cases[NSRC + 1];
	long vals[NSRC], qv = 7;
	int n = NSRC;

	for (int i = 0; i < NSRC; i++) {
		a[i] = (struct src_arg){ s->src[i], s->per };
		sact_go(src_producer, &a[i]);
		cases[i] = (struct sact_sel){ s->src[i], SACT_SEL_RECV,
					      &vals[i], 0 };
	}
	sact_go(quit_receiver, s);
	/* the last case sends on quit whenever its receiver waits */
	cases[n] = (struct sact_sel){ s->quit, SACT_SEL_SEND, &qv, 0 };
	while (n > 0) {
		int i = sact_chan_select(cases, n + 1, SACT_FOREVER);

		if (i < 0)
			break;
		if (i == n)
			continue;	/* a send on quit */
		if (cases[i].err == -EPIPE) {
			s->closed_seen++;
			/* drop the case: move the last source case here */
			cases[i] = cases[n - 1];
			cases[n - 1] = cases[n];
			n--;
			continue;
		}
		s->sum += *(long *)cases[i].elem;
		s->count++;
	}
	sact_chan_close(s->quit);
}

static void run_select(struct __test_metadata *_metadata,
		       const FIXTURE_VARIANT(chan) *variant, size_t cap)
{
	struct sel s = { .per = ST_SCALE(5000) };

	for (int i = 0; i < NSRC; i++)
		s.src[i] = sact_chan_new(sizeof(long), cap);
	s.quit = sact_chan_new(sizeof(long), 0);
	ASSERT_EQ(0, st_run(sel_main, &s));
	EXPECT_EQ(NSRC, s.closed_seen);
	EXPECT_EQ(NSRC * s.per, s.count);
	EXPECT_EQ(NSRC * s.per * (s.per + 1) / 2, s.sum);
	for (int i = 0; i < NSRC; i++)
		sact_chan_free(s.src[i]);
	sact_chan_free(s.quit);
}

TEST_F(chan, select_unbuffered)
{
	run_select(_metadata, variant, 0);
}

TEST_F(chan, select_buffered)
{
	run_select(_metadata, variant, 8);
}

struct sel_forms {
	int again, timedout, closed_idx, closed_err, einval;
	int picked[2];
};

static void sel_forms_main(void *arg)
{
	struct sel_forms *f = arg;
	struct sact_chan *a = sact_chan_new(sizeof(long), 4);
	struct sact_chan *b = sact_chan_new(sizeof(long), 4);
	long va, vb, one = 1;
	struct sact_sel cases[2] = {
		{ a, SACT_SEL_RECV, &va, 0 },
		{ b, SACT_SEL_RECV, &vb, 0 },
	};

	f->again = sact_chan_select(cases, 2, 0);
	f->timedout = sact_chan_select(cases, 2, 1000000);
	f->einval = sact_chan_select(cases, 0, 0);
	/* both always ready: both get picked */
	for (int i = 0; i < 100; i++) {
		int k;

		sact_chan_trysend(a, &one);
		sact_chan_trysend(b, &one);
		k = sact_chan_select(cases, 2, SACT_FOREVER);
		if (k >= 0)
			f->picked[k]++;
	}
	sact_chan_close(b);
	while (sact_chan_tryrecv(b, &vb) == 0)
		;
	while (sact_chan_tryrecv(a, &va) == 0)
		;
	f->closed_idx = sact_chan_select(cases, 2, SACT_FOREVER);
	f->closed_err = cases[1].err;
	sact_chan_free(a);
	sact_chan_free(b);
}

TEST_F(chan, select_forms)
{
	struct sel_forms f = { 0 };

	ASSERT_EQ(0, st_run(sel_forms_main, &f));
	EXPECT_EQ(-EAGAIN, f.again);
	EXPECT_EQ(-ETIMEDOUT, f.timedout);
	EXPECT_EQ(-EINVAL, f.einval);
	EXPECT_LT(0, f.picked[0]);
	EXPECT_LT(0, f.picked[1]);
	EXPECT_EQ(100, f.picked[0] + f.picked[1]);
	EXPECT_EQ(1, f.closed_idx);
	EXPECT_EQ(-EPIPE, f.closed_err);
}

TEST(chan_new_rejects)
{
	st_native_only();
	EXPECT_EQ(NULL, sact_chan_new(0, 1));
}

TEST_HARNESS_MAIN
