// SPDX-License-Identifier: GPL-2.0
/*
 * ring_loop.c - the ceiling of the http and echo workloads: a hand-written
 * io_uring event loop per thread, no Gs and no scheduler.
 *
 * What a C programmer would write instead of one G per connection, so
 * that scripts/bench can say what the Gs cost: N threads (-t), each with
 * its own ring and its own listening socket, all bound to one port with
 * SO_REUSEPORT (the kernel spreads the connections over them), a
 * multishot accept, and per connection one recv or send in flight, into
 * a buffer of its own.  Nothing is shared between the threads but the
 * port; no thread ever blocks but in io_uring_enter.  It serves
 *   http  httpd's protocol with httpd's code (userspace/demos/http.h):
 *         the same parser, the same answer and refusal bytes, the same
 *         close protocol after a refusal, keep-alive and pipelining;
 *   echo  echo_server.c's: read exactly SIZE bytes, write them back,
 *         until EOF (echo_load drives it unchanged).
 * So against httpd --io ring (or echo_server -m ring) only the way the
 * connections wait differs: here a state per connection and a loop over
 * completions; there a G per connection parked on its P's ring.
 *
 * Rejected: provided-buffer rings and registered files (faster, but no
 * longer what the sact servers do: a buffer per connection, plain fds);
 * one ring for all threads (a lock, or an extra hop per completion).
 * Taken: SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them (6.1):
 * completions are posted when the thread waits, not by interrupting it.
 *
 *	build/bench/ring_loop [-m http|echo] [-t THREADS] [-s SIZE]
 *			      [-P|--port PORT]
 *
 * Defaults: -m http -t 2 -s 64 -P 0 (any free port).  Once every thread
 * listens it prints "port N" (echo_load's handshake) and "ring_loop:
 * listening on 127.0.0.1:N, ..." (http-bench's).  SIGINT or SIGTERM: the
 * threads stop, it says how many requests it answered, exit 0.  Exit 1
 * with a message if io_uring or a socket is unavailable, 2 on a bad
 * option.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "bench.h"
#include "../demos/http.h"

#define MAX_THREADS	64
#define RING_SQ		512
#define RING_CQ		8192		/* every connection's op, and more */

/* user_data of the ops that are not a connection's (a conn is aligned) */
enum { UD_ACCEPT = 1, UD_STOP, UD_RETRY };

enum proto { HTTP, ECHO };
static enum proto proto = HTTP;
static size_t size = 64;		/* echo: bytes per message */
static int stop_fd;			/* eventfd: readable once stopping */
static _Atomic bool warned;		/* of the open files limit */

struct conn {
	int fd;
	enum { C_RECV, C_SEND, C_REFUSE, C_DRAIN } state;
	size_t have;			/* bytes in in[] */
	size_t sent, len;		/* of the answer at out */
	long long skip;			/* http: body bytes still to drop */
	bool close_after;		/* http: the request said close */
	int drains;			/* http: recvs after a refusal */
	const char *out;		/* what C_SEND / C_REFUSE sends */
	struct conn *prev, *next;	/* the thread's connections */
	char *answer;			/* http: HTTP_ANSWER_MAX bytes */
	char in[];			/* HTTP_HEAD_MAX + 1, or SIZE */
};

struct worker {
	struct io_uring ring;
	int lfd;
	int err;			/* of the setup: -errno */
	bool stopping;
	struct __kernel_timespec retry;	/* accept again after EMFILE */
	struct conn conns;		/* list head */
	long requests, accepted;
	pthread_t tid;
};

static struct worker workers[MAX_THREADS];
static pthread_barrier_t ready;

/* An SQE; submits what is queued if the SQ is full. */
static struct io_uring_sqe *get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static void arm_accept(struct worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_multishot_accept(sqe, w->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD_ACCEPT);
}

/* Precondition: c->have < the buffer's size (HTTP_HEAD_MAX, or SIZE). */
static void arm_recv(struct worker *w, struct conn *c)
{
	size_t room = (proto == HTTP ? HTTP_HEAD_MAX : size) - c->have;
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_recv(sqe, c->fd, c->in + c->have, room, 0);
	io_uring_sqe_set_data(sqe, c);
}

/* Send out[sent..len).  Precondition: sent < len. */
static void arm_send(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_send(sqe, c->fd, c->out + c->sent, c->len - c->sent,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, c);
}

/* Precondition: no op of c is in flight. */
static void conn_close(struct conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	close(c->fd);
	free(c);
}

static void conn_new(struct worker *w, int fd)
{
	size_t room = proto == HTTP ? HTTP_HEAD_MAX + 1 + HTTP_ANSWER_MAX : size;
	struct conn *c = malloc(sizeof(*c) + room);
	int one = 1;

	if (!c) {
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if (proto == HTTP)
		c->answer = c->in + HTTP_HEAD_MAX + 1;
	c->next = w->conns.next;
	c->prev = &w->conns;
	c->next->prev = c;
	w->conns.next = c;
	w->accepted++;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	arm_recv(w, c);
}

/* Refuse the way httpd does: the refusal, then shutdown and drain. */
static void refuse(struct worker *w, struct conn *c, const char *what)
{
	c->out = c->answer;
	c->len = http_refusal(c->answer, HTTP_ANSWER_MAX, what);
	c->sent = 0;
	c->state = C_REFUSE;
	arm_send(w, c);
}

/*
 * http: what the connection does next from what in[] holds, as httpd's
 * serve() loop would: drop the last request's body, close if it said so,
 * else answer the next request whose head is here, or read more.
 * Precondition: no op of c is in flight.
 */
static void http_step(struct worker *w, struct conn *c)
{
	struct http_request r;
	const char *bad;
	size_t end;

	if (c->skip) {
		size_t n = c->skip < (long long)c->have ? (size_t)c->skip :
							    c->have;

		memmove(c->in, c->in + n, c->have - n);
		c->have -= n;
		c->skip -= (long long)n;
		if (c->skip) {
			c->state = C_RECV;
			arm_recv(w, c);
			return;
		}
	}
	if (c->close_after) {
		conn_close(c);
		return;
	}
	end = http_head_end(c->in, c->have);
	if (!end) {
		if (c->have == HTTP_HEAD_MAX) {
			refuse(w, c, HTTP_TOO_LARGE);
			return;
		}
		c->state = C_RECV;
		arm_recv(w, c);
		return;
	}
	bad = http_parse_head(c->in, end, &r);
	if (bad) {
		refuse(w, c, bad);
		return;
	}
	c->out = http_answer(c->answer, &r, &c->len);
	c->sent = 0;
	w->requests++;
	/* the head is answered: keep what follows it, drop the body */
	memmove(c->in, c->in + end, c->have - end);
	c->have -= end;
	c->skip = r.length;
	c->close_after = r.close;
	c->state = C_SEND;
	arm_send(w, c);
}

/* A connection's recv or send completed with res. */
static void conn_done(struct worker *w, struct conn *c, int res)
{
	switch (c->state) {
	case C_RECV:
		if (res <= 0)
			break;			/* the client left */
		c->have += (size_t)res;
		if (proto == HTTP) {
			http_step(w, c);
		} else if (c->have < size) {
			arm_recv(w, c);
		} else {
			c->out = c->in;
			c->len = size;
			c->sent = 0;
			c->state = C_SEND;
			arm_send(w, c);
		}
		return;
	case C_SEND:
	case C_REFUSE:
		if (res <= 0)
			break;			/* the connection broke */
		c->sent += (size_t)res;
		if (c->sent < c->len) {
			arm_send(w, c);
		} else if (c->state == C_REFUSE) {
			shutdown(c->fd, SHUT_WR);
			c->have = 0;
			c->state = C_DRAIN;
			arm_recv(w, c);
		} else if (proto == HTTP) {
			http_step(w, c);
		} else {
			w->requests++;
			c->have = 0;
			c->state = C_RECV;
			arm_recv(w, c);
		}
		return;
	case C_DRAIN:
		if (res > 0 && ++c->drains < HTTP_DRAIN_RECVS) {
			arm_recv(w, c);
			return;
		}
		break;
	}
	conn_close(c);
}

/* The multishot accept posted res (a new fd, or -errno). */
static void accepted(struct worker *w, int res, unsigned int flags)
{
	bool again = !(flags & IORING_CQE_F_MORE);

	if (res >= 0) {
		conn_new(w, res);
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOMEM ||
		   res == -ENOBUFS) {
		struct rlimit rl = { 0, 0 };

		getrlimit(RLIMIT_NOFILE, &rl);
		if (!atomic_exchange(&warned, true))
			fprintf(stderr, "ring_loop: accept: %s (open files "
				"limit %lu): new connections wait\n",
				strerror(-res), (unsigned long)rl.rlim_cur);
		if (again) {	/* in 10 ms: some connection may have gone */
			struct io_uring_sqe *sqe = get_sqe(w);

			w->retry.tv_nsec = 10 * 1000 * 1000;
			io_uring_prep_timeout(sqe, &w->retry, 0, 0);
			io_uring_sqe_set_data64(sqe, UD_RETRY);
			return;
		}
	} else if (res == -EINVAL || res == -EBADF || res == -ENOTSOCK) {
		fprintf(stderr, "ring_loop: multishot accept: %s (Linux 5.19 "
			"or later needed)\n", strerror(-res));
		exit(1);
	}
	if (again)
		arm_accept(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
			 IORING_SETUP_DEFER_TASKRUN,
		.cq_entries = RING_CQ,
	};
	struct io_uring_sqe *sqe;

	/* the ring is this thread's: SINGLE_ISSUER makes its creator the
	 * one task that may submit */
	w->err = io_uring_queue_init_params(RING_SQ, &w->ring, &p);
	if (w->err == -EINVAL) {		/* before 6.1 */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = RING_CQ;
		w->err = io_uring_queue_init_params(RING_SQ, &w->ring, &p);
	}
	pthread_barrier_wait(&ready);
	if (w->err)
		return NULL;
	w->conns.next = w->conns.prev = &w->conns;
	arm_accept(w);
	sqe = get_sqe(w);
	io_uring_prep_poll_add(sqe, stop_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_STOP);

	while (!w->stopping) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;
		int ret = io_uring_submit_and_wait(&w->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			fprintf(stderr, "ring_loop: io_uring_enter: %s\n",
				strerror(-ret));
			exit(1);
		}
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			__u64 ud = io_uring_cqe_get_data64(cqe);

			n++;
			if (ud == UD_ACCEPT)
				accepted(w, cqe->res, cqe->flags);
			else if (ud == UD_RETRY)
				arm_accept(w);
			else if (ud == UD_STOP)
				w->stopping = true;
			else
				conn_done(w, io_uring_cqe_get_data(cqe),
					  cqe->res);
		}
		io_uring_cq_advance(&w->ring, n);
	}
	/* the ring's exit cancels what is in flight; then the sockets go */
	io_uring_queue_exit(&w->ring);
	while (w->conns.next != &w->conns)
		conn_close(w->conns.next);
	close(w->lfd);
	return NULL;
}

/* A socket listening on 127.0.0.1:*port with SO_REUSEPORT; -1 and a
 * message on failure.  *port 0: any free port, stored in *port. */
static int listen_on(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)*port) };
	socklen_t alen = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096) ||
	    getsockname(fd, (struct sockaddr *)&a, &alen)) {
		fprintf(stderr, "ring_loop: listen on 127.0.0.1:%d: %s\n",
			*port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: ring_loop [-m http|echo] [-t THREADS] "
		"[-s SIZE] [-P|--port PORT]\n");
	exit(2);
}

/* The number in arg within [min, max], or usage. */
static long number(int opt, const char *arg, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max) {
		fprintf(stderr, "ring_loop: -%c %s: want a number in "
			"%ld..%ld\n", opt, arg, min, max);
		usage();
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'P' },
		{ 0 }
	};
	int opt, nthreads = 2, port = 0, err = 0;
	long requests = 0, accepted = 0;
	sigset_t sigs;

	while ((opt = getopt_long(argc, argv, "m:t:s:P:", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (!strcmp(optarg, "http"))
				proto = HTTP;
			else if (!strcmp(optarg, "echo"))
				proto = ECHO;
			else {
				fprintf(stderr, "ring_loop: -m %s: http or "
					"echo\n", optarg);
				usage();
			}
			break;
		case 't': nthreads = (int)number('t', optarg, 1, MAX_THREADS); break;
		case 's': size = (size_t)number('s', optarg, 1, 65536); break;
		case 'P': port = (int)number('P', optarg, 0, 65535); break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	want_files(65536);
	for (int i = 0; i < nthreads; i++) {
		workers[i].lfd = listen_on(&port);
		if (workers[i].lfd < 0)
			return 1;
	}
	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (stop_fd < 0) {
		perror("ring_loop: eventfd");
		return 1;
	}
	/* the signals are the main thread's, by sigwait: not the workers' */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_barrier_init(&ready, NULL, (unsigned int)nthreads + 1);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&workers[i].tid, NULL, worker_main,
				   &workers[i])) {
			fprintf(stderr, "ring_loop: pthread_create failed\n");
			return 1;
		}
	pthread_barrier_wait(&ready);
	for (int i = 0; i < nthreads; i++)
		err = err ? err : workers[i].err;
	if (err) {
		fprintf(stderr, "ring_loop: io_uring unavailable: %s%s\n",
			strerror(-err), err == -EPERM ?
			" (kernel.io_uring_disabled, or a seccomp filter)" : "");
		return 1;
	}
	printf("port %d\nring_loop: listening on 127.0.0.1:%d, %s, %d "
	       "threads\n", port, port, proto == HTTP ? "http" : "echo",
	       nthreads);
	fflush(stdout);

	while (sigwait(&sigs, &opt))
		;
	if (eventfd_write(stop_fd, 1)) {
		perror("ring_loop: eventfd_write");
		return 1;
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(workers[i].tid, NULL);
		requests += workers[i].requests;
		accepted += workers[i].accepted;
	}
	printf("ring_loop: stopped; %ld requests answered on %ld "
	       "connections\n", requests, accepted);
	return 0;
}
