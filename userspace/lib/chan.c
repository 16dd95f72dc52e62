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
 * hand-over needs the queue and the buffer to change together); select over
 * many channels (not here yet: try/timeout forms cover polling).
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

static int chan_send(struct sact_chan *c, const void *elem, int mode,
		     uint64_t ns)
{
	struct waiter *r, w;
	int err = park_prepare(mode == TIMED);

	if (err)
		return err;
	lock_acquire(&c->lock);
	if (c->closed) {
		lock_release(&c->lock);
		return -EPIPE;
	}
	r = wq_pop(&c->recvq);
	if (r) {
		memcpy(r->elem, elem, c->elemsize);
		r->ok = 1;
		lock_release(&c->lock);
		goready(r->g);
		return 0;
	}
	if (c->count < c->cap) {
		memcpy(slot(c, c->sendx), elem, c->elemsize);
		c->sendx = (c->sendx + 1) % c->cap;
		c->count++;
		lock_release(&c->lock);
		return 0;
	}
	if (mode == TRY) {
		lock_release(&c->lock);
		return -EAGAIN;
	}
	w = (struct waiter){ .g = getg_or_throw(), .elem = (void *)elem };
	err = park_on(&c->sendq, &w, &c->lock, mode == TIMED, ns);
	if (err)
		return err;
	return w.ok ? 0 : -EPIPE;
}

static int chan_recv(struct sact_chan *c, void *elem, int mode, uint64_t ns)
{
	struct waiter *s, w;
	int err = park_prepare(mode == TIMED);

	if (err)
		return err;
	lock_acquire(&c->lock);
	s = wq_pop(&c->sendq);
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
		lock_release(&c->lock);
		goready(s->g);
		return 0;
	}
	if (c->count > 0) {
		memcpy(elem, slot(c, c->recvx), c->elemsize);
		c->recvx = (c->recvx + 1) % c->cap;
		c->count--;
		lock_release(&c->lock);
		return 0;
	}
	if (c->closed) {
		lock_release(&c->lock);
		memset(elem, 0, c->elemsize);
		return -EPIPE;
	}
	if (mode == TRY) {
		lock_release(&c->lock);
		return -EAGAIN;
	}
	w = (struct waiter){ .g = getg_or_throw(), .elem = elem };
	err = park_on(&c->recvq, &w, &c->lock, mode == TIMED, ns);
	if (err)
		return err;
	if (!w.ok) {
		memset(elem, 0, c->elemsize);
		return -EPIPE;
	}
	return 0;
}

SACT_API int sact_chan_send(struct sact_chan *c, const void *elem)
{
	return chan_send(c, elem, BLOCK, 0);
}

SACT_API int sact_chan_trysend(struct sact_chan *c, const void *elem)
{
	return chan_send(c, elem, TRY, 0);
}

SACT_API int sact_chan_send_timeout(struct sact_chan *c, const void *elem,
				    uint64_t timeout_ns)
{
	return chan_send(c, elem, TIMED, timeout_ns);
}

SACT_API int sact_chan_recv(struct sact_chan *c, void *elem)
{
	return chan_recv(c, elem, BLOCK, 0);
}

SACT_API int sact_chan_tryrecv(struct sact_chan *c, void *elem)
{
	return chan_recv(c, elem, TRY, 0);
}

SACT_API int sact_chan_recv_timeout(struct sact_chan *c, void *elem,
				    uint64_t timeout_ns)
{
	return chan_recv(c, elem, TIMED, timeout_ns);
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
