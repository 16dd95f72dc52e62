// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * chan.c - Go's channels: a ring buffer of cap elements, a queue of parked
 * senders and one of parked receivers, one internal lock (Go's hchan).
 *
 * A sender that finds a parked receiver copies straight into the
 * receiver's destination (on the receiver's stack: it is parked, so its
 * stack is quiet) and readies it; a receiver that finds a parked sender on
 * a full buffer takes the head and moves the sender's element to the tail,
 * keeping FIFO order.  An unbuffered channel is the cap-0 case: every
 * transfer is a direct hand-over.  Waiters and timeouts: see sync.c.
 *
 * Rejected: a lock-free ring (Go kept the lock too: the parked-waiter
 * hand-over needs the queue and the buffer to change together).  Select
 * (at the end) reuses send_now/recv_now and the wait queues unchanged: the
 * claim protocol of sync.c already lets one G wait on many queues.
 */
#include <string.h>

#include "internal.h"

struct sact_chan {
	struct lock lock;
	bool closed;
	size_t elemsize, cap;
	size_t count, sendx, recvx;
	struct waitq sendq, recvq;
	char buf[];
};

static void *slot(struct sact_chan *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

SACT_API struct sact_chan *sact_chan_new(size_t elem_size, size_t cap)
{
	struct sact_chan *c;

	if (elem_size == 0 || elem_size > (1 << 16) ||
	    cap > ((size_t)1 << 32))
		return NULL;
	c = calloc(1, sizeof(*c) + elem_size * cap);
	if (!c)
		return NULL;
	c->elemsize = elem_size;
	c->cap = cap;
	return c;
}

SACT_API void sact_chan_free(struct sact_chan *c)
{
	free(c);
}

enum { BLOCK, TRY, TIMED };

/*
 * With c->lock held: send *elem if that can be done without waiting.
 * 1: done (*wake: a receiver to ready once the lock is dropped), 0: it
 * would wait, -EPIPE: closed.
 */
static int send_now(struct sact_chan *c, const void *elem, struct g **wake)
{
	struct waiter *r;

	if (c->closed)
		return -EPIPE;
	r = wq_pop(&c->recvq);
	if (r) {
		memcpy(r->elem, elem, c->elemsize);
		r->ok = 1;
		*wake = r->g;
		return 1;
	}
	if (c->count < c->cap) {
		memcpy(slot(c, c->sendx), elem, c->elemsize);
		c->sendx = (c->sendx + 1) % c->cap;
		c->count++;
		return 1;
	}
	return 0;
}

/*
 * With c->lock held: receive into *elem if that can be done without
 * waiting.  1: done (*wake: a sender to ready), 0: it would wait, -EPIPE:
 * closed and drained (*elem zeroed).
 */
static int recv_now(struct sact_chan *c, void *elem, struct g **wake)
{
	struct waiter *s = wq_pop(&c->sendq);

	if (s) {
		if (c->cap == 0) {
			memcpy(elem, s->elem, c->elemsize);
		} else {
			/* full: take the head, the sender's goes to the tail */
			memcpy(elem, slot(c, c->recvx), c->elemsize);
			memcpy(slot(c, c->recvx), s->elem, c->elemsize);
			c->recvx = (c->recvx + 1) % c->cap;
			c->sendx = c->recvx;
		}
		s->ok = 1;
		*wake = s->g;
		return 1;
	}
	if (c->count > 0) {
		memcpy(elem, slot(c, c->recvx), c->elemsize);
		c->recvx = (c->recvx + 1) % c->cap;
		c->count--;
		return 1;
	}
	if (c->closed) {
		memset(elem, 0, c->elemsize);
		return -EPIPE;
	}
	return 0;
}

/*
 * Go's chansend and chanrecv in one: done at once (send_now/recv_now), or
 * -EAGAIN for TRY, or park on the channel's queue until a partner (or
 * close, or the TIMED limit) readies the G.  Closed: -EPIPE, and a receive
 * leaves *elem zeroed.  Precondition: called from a G, except TRY.
 */
static int chan_op(struct sact_chan *c, void *elem, bool send, int mode,
		   uint64_t ns)
{
	struct g *wake = NULL;
	struct waiter w;
	int err = park_prepare(mode == TIMED);

	if (err)
		return err;
	lock_acquire(&c->lock);
	err = send ? send_now(c, elem, &wake) : recv_now(c, elem, &wake);
	if (err) {
		lock_release(&c->lock);
		if (wake)
			goready(wake);
		err = err < 0 ? err : 0;
	} else if (mode == TRY) {
		lock_release(&c->lock);
		err = -EAGAIN;
	} else {
		w = (struct waiter){ .g = getg_or_threadg(), .elem = elem };
		err = park_on(send ? &c->sendq : &c->recvq, &w, &c->lock,
			      false, mode == TIMED, ns);
		if (!err && !w.ok) {
			if (!send)
				memset(elem, 0, c->elemsize);
			err = -EPIPE;
		}
	}
	back_to_g();
	return err;
}

SACT_API int sact_chan_send(struct sact_chan *c, const void *elem)
{
	return chan_op(c, (void *)elem, true, BLOCK, 0);
}

SACT_API int sact_chan_trysend(struct sact_chan *c, const void *elem)
{
	return chan_op(c, (void *)elem, true, TRY, 0);
}

SACT_API int sact_chan_send_timeout(struct sact_chan *c, const void *elem,
				    uint64_t timeout_ns)
{
	return chan_op(c, (void *)elem, true, TIMED, timeout_ns);
}

SACT_API int sact_chan_recv(struct sact_chan *c, void *elem)
{
	return chan_op(c, elem, false, BLOCK, 0);
}

SACT_API int sact_chan_tryrecv(struct sact_chan *c, void *elem)
{
	return chan_op(c, elem, false, TRY, 0);
}

SACT_API int sact_chan_recv_timeout(struct sact_chan *c, void *elem,
				    uint64_t timeout_ns)
{
	return chan_op(c, elem, false, TIMED, timeout_ns);
}

SACT_API int sact_chan_close(struct sact_chan *c)
{
	struct waiter *list = NULL, *w;

	lock_acquire(&c->lock);
	if (c->closed) {
		lock_release(&c->lock);
		return -EPIPE;
	}
	c->closed = true;
	while ((w = wq_pop(&c->recvq)) || (w = wq_pop(&c->sendq))) {
		w->ok = 0;
		w->prev = list;
		list = w;
	}
	lock_release(&c->lock);
	while (list) {
		w = list;
		list = w->prev;
		goready(w->g);
	}
	back_to_g();
	return 0;
}

SACT_API size_t sact_chan_len(struct sact_chan *c)
{
	size_t n;

	lock_acquire(&c->lock);
	n = c->count;
	lock_release(&c->lock);
	return n;
}

/* ---- select ----------------------------------------------------------------
 * Lock every channel involved (in address order: no lock-order cycles),
 * take the first ready case from a rotating start (no case starves); else
 * queue one waiter per case, all for this G, and park releasing every lock.
 * The first waker to claim the G (g->claim) fires its waiter; wakers that
 * find another of our waiters afterwards lose the claim and skip it.  Woken,
 * the G locks them all again and unlinks the waiters still queued.
 */

static int lock_set(struct sact_sel *cases, int n, struct lock **locks)
{
	int nl = 0;

	for (int i = 0; i < n; i++) {
		struct lock *l = &cases[i].chan->lock;
		int j = nl;

		for (int k = 0; k < nl; k++)
			if (locks[k] == l)
				goto next;
		while (j > 0 && locks[j - 1] > l) {
			locks[j] = locks[j - 1];
			j--;
		}
		locks[j] = l;
		nl++;
next:;
	}
	return nl;
}

static void lock_all(struct lock **locks, int n)
{
	for (int i = 0; i < n; i++)
		lock_acquire(locks[i]);
}

static void unlock_all(struct lock **locks, int n)
{
	for (int i = n - 1; i >= 0; i--)
		lock_release(locks[i]);
}

static struct waitq *sel_queue(struct sact_sel *sc)
{
	return sc->op == SACT_SEL_SEND ? &sc->chan->sendq : &sc->chan->recvq;
}

/* sact_chan_select without its way back to G code (back_to_g) */
static int chan_select(struct sact_sel *cases, int n, uint64_t timeout_ns)
{
	static _Atomic unsigned int rotor;
	struct lock *locks[SACT_SELECT_MAX];
	struct waiter w[SACT_SELECT_MAX];
	bool timed = timeout_ns != 0 && timeout_ns != SACT_FOREVER;
	int nl, start, err;
	struct g *gp, *wake = NULL;

	if (n < 1 || n > SACT_SELECT_MAX)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (!cases[i].chan || (cases[i].op != SACT_SEL_SEND &&
				       cases[i].op != SACT_SEL_RECV))
			return -EINVAL;
	gp = getg_or_threadg();
	err = park_prepare(timed);
	if (err)
		return err;
	nl = lock_set(cases, n, locks);
	start = atomic_fetch_add_explicit(&rotor, 1, RELAXED) % n;
	lock_all(locks, nl);
	for (int k = 0; k < n; k++) {
		int i = (start + k) % n;
		struct sact_sel *sc = &cases[i];

		err = sc->op == SACT_SEL_SEND ?
			      send_now(sc->chan, sc->elem, &wake) :
			      recv_now(sc->chan, sc->elem, &wake);
		if (err) {
			unlock_all(locks, nl);
			if (wake)
				goready(wake);
			sc->err = err < 0 ? err : 0;
			return i;
		}
	}
	if (timeout_ns == 0) {
		unlock_all(locks, nl);
		return -EAGAIN;
	}
	st(&gp->claim, 0);
	for (int i = 0; i < n; i++) {
		w[i] = (struct waiter){ .g = gp, .elem = cases[i].elem };
		wq_push(sel_queue(&cases[i]), &w[i]);
	}
	err = gopark_locks(gp, locks, nl,
			   timed ? nanotime() + (int64_t)(timeout_ns >
							   INT64_MAX / 4 ?
						   INT64_MAX / 4 : timeout_ns) :
				   0);
	lock_all(locks, nl);
	for (int i = 0; i < n; i++)
		if (w[i].queued)
			wq_remove(sel_queue(&cases[i]), &w[i]);
	unlock_all(locks, nl);
	if (err == CLAIM_TIMEOUT)
		return -ETIMEDOUT;
	for (int i = 0; i < n; i++) {
		if (!w[i].fired)
			continue;
		cases[i].err = w[i].ok ? 0 : -EPIPE;
		if (!w[i].ok && cases[i].op == SACT_SEL_RECV)
			memset(cases[i].elem, 0, cases[i].chan->elemsize);
		return i;
	}
	throw("sact: select woken by no case");
}

SACT_API int sact_chan_select(struct sact_sel *cases, int n,
			      uint64_t timeout_ns)
{
	int ret = chan_select(cases, n, timeout_ns);

	back_to_g();
	return ret;
}
