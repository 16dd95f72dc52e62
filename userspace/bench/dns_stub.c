// SPDX-License-Identifier: GPL-2.0
/*
 * dns_stub.c - a DNS server on UDP 127.0.0.1 that answers every query
 * after a fixed delay: the slow resolver of the libc workload (see
 * userspace/bench/dns-ns, which runs it where the resolver looks).
 *
 *	build/bench/dns_stub [-d DELAY_MS] [-p PORT]
 *
 * Defaults: -d 100 -p 53.  An A query of class IN is answered with
 * 127.0.0.2 (TTL 0), any other with no record (NOERROR); a packet that
 * is not a query is dropped.  All delays are equal, so the answers go
 * out in the order the queries came: a FIFO of pending answers, sent by
 * one thread in poll().  Prints "dns_stub ready" once bound, then serves
 * until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench.h"

#define MAXPKT		512	/* DNS over UDP, no EDNS */
#define QUEUE		8192	/* answers pending at once; more are dropped */

struct pending {
	int64_t due;
	struct sockaddr_in to;
	size_t len;
	unsigned char pkt[MAXPKT];
};

static struct pending q[QUEUE];
static unsigned long head, tail;

/*
 * Turn the query in p (len bytes) into its answer, in place: the length
 * of the answer, or 0 to drop it.
 */
static size_t answer(unsigned char *p, size_t len)
{
	size_t off = 12;
	unsigned qtype, qclass;
	static const unsigned char rr[] = {
		0xc0, 0x0c,		/* the name: the question's */
		0, 1, 0, 1,		/* A, IN */
		0, 0, 0, 0,		/* TTL 0: nothing caches it */
		0, 4, 127, 0, 0, 2	/* 127.0.0.2 */
	};

	if (len < 17 || (p[2] & 0x80) || p[4] != 0 || p[5] != 1)
		return 0;		/* not one question */
	while (off < len && p[off])
		off += 1 + p[off];	/* the labels */
	if (off + 5 > len || len - off - 5 + sizeof(rr) > MAXPKT)
		return 0;
	qtype = p[off + 1] << 8 | p[off + 2];
	qclass = p[off + 3] << 8 | p[off + 4];
	len = off + 5;			/* drop anything after the question */
	p[2] = 0x80 | (p[2] & 0x79);	/* QR; opcode and RD kept */
	p[3] = 0x80;			/* RA, NOERROR */
	memset(p + 6, 0, 6);		/* no answer, authority, additional */
	if (qtype == 1 && qclass == 1) {
		p[7] = 1;
		memcpy(p + len, rr, sizeof(rr));
		len += sizeof(rr);
	}
	return len;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(53) };
	int64_t delay = 100 * 1000000LL;
	int opt, fd, rcvbuf = 16 << 20;

	while ((opt = getopt(argc, argv, "d:p:")) != -1) {
		switch (opt) {
		case 'd': delay = atoll(optarg) * 1000000LL; break;
		case 'p': a.sin_port = htons(atoi(optarg)); break;
		default:
			fprintf(stderr, "usage: %s [-d DELAY_MS] [-p PORT]\n",
				argv[0]);
			return 2;
		}
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	/* 1000 queries at once overflow the default buffer (~200 KiB with
	 * the kernel's overhead per packet); FORCE needs root, else the
	 * limit of rmem_max */
	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
				  sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("dns_stub: bind");
		return 1;
	}
	printf("dns_stub ready\n");
	fflush(stdout);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t now = now_ns();
		int timeout = -1;

		/* send what is due */
		while (head != tail && q[head % QUEUE].due <= now) {
			struct pending *e = &q[head++ % QUEUE];

			sendto(fd, e->pkt, e->len, 0, (struct sockaddr *)&e->to,
			       sizeof(e->to));
		}
		if (head != tail)
			timeout = (int)((q[head % QUEUE].due - now) / 1000000 + 1);
		if (poll(&p, 1, timeout) < 0 && errno != EINTR)
			return 1;
		/* queue what came */
		for (;;) {
			struct pending *e = &q[tail % QUEUE];
			socklen_t alen = sizeof(e->to);
			ssize_t n;

			if (tail - head == QUEUE) {
				unsigned char sink[MAXPKT];

				if (recv(fd, sink, sizeof(sink), 0) < 0)
					break;
				continue;	/* dropped */
			}
			n = recvfrom(fd, e->pkt, MAXPKT, 0,
				     (struct sockaddr *)&e->to, &alen);
			if (n < 0)
				break;
			e->len = answer(e->pkt, (size_t)n);
			if (!e->len)
				continue;
			e->due = now_ns() + delay;
			tail++;
		}
	}
}
