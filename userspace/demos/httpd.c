// SPDX-License-Identifier: GPL-2.0
/*
 * httpd - Go's hello-world web server in C, one G per connection.
 *
 * The Go program ("ex1", net/http's first example) is
 *
 *	http.HandleFunc("/bar", func(w http.ResponseWriter, r *http.Request) {
 *		fmt.Fprintf(w, "Hello, %q", html.EscapeString(r.URL.Path))
 *	})
 *	log.Fatal(http.ListenAndServe(":8080", nil))
 *
 * and this is its twin: GET /bar answers `Hello, "/bar"` with the bytes Go
 * sends (Date, Content-Length, Content-Type), HTTP/1.1 keep-alive, and a
 * request parser that refuses what Go refuses, with Go's answer: 400 for
 * a malformed request, 505 for a version other than HTTP/1.x, 431 for a
 * head over 4 KiB (Go allows 1 MiB), and 501 for a Transfer-Encoding
 * (Go decodes chunked bodies; a greeting needs none).  Every path gets
 * the greeting, as a handler on "/" would (Go's mux answers 404 to paths
 * other than /bar): percent-decoded, HTML-escaped and quoted as %q does.
 * The parser and those bytes are in http.h, which the benchmarks' event
 * loop (userspace/bench/ring_loop.c) shares, so that the two differ only
 * in how they wait.
 *
 * The server is written the way one writes it with a thread per
 * connection: accept in a loop, and per connection "read a request,
 * answer it" until the client leaves.  Each connection is a G; --io says
 * how its calls wait:
 *   ring    sact_ring_accept/recv/send: the G parks on its P's io_uring,
 *           the M runs other Gs (no thread ever sleeps in a socket call)
 *   block   sact_accept/recv/send: the M sleeps in the kernel and the
 *           backend hands its P to another M meanwhile
 *   thread  the same code on one OS thread per connection, no sact at
 *           all: the baseline the benchmarks compare with
 * Out of descriptors (EMFILE) or memory, accept waits and tries again
 * (5 ms, doubling up to 1 s, as net/http does) while the connections it
 * has go on.  SIGINT or SIGTERM shut the listening socket and every
 * connection down;
 * the Gs return, sact_run returns, and the program exits 0.
 *
 * Run it:
 *   build/demos/httpd &  curl -i http://127.0.0.1:8080/bar
 *   wrk -c 1024 -d 10s http://127.0.0.1:8080/bar     (make bench does)
 * Options: --port N (8080; 0: any free port), --io ring|block|thread
 * (ring), --backend auto|kmod|bpf|sysmon|none (auto), --procs N (the
 * online CPUs).  It says "listening on 127.0.0.1:PORT" once it accepts,
 * and how many requests it answered when it stops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#include "http.h"

#define MAX_FDS		65536

enum io { IO_RING, IO_BLOCK, IO_THREAD };
static const char *const io_names[] = { "ring", "block", "thread" };

static enum io io = IO_RING;
static int lfd;
static _Atomic bool stopping;
static _Atomic bool live[MAX_FDS];	/* connections to shut at the end */
static _Atomic long nconns, nrequests, nlive;
static struct sact_waitgroup conns;	/* the connection Gs */

/*
 * --- I/O: the only place the three modes differ ----------------------
 * Each returns the result or -errno.  Outside a G (thread mode) the
 * blocking wrappers sact_accept/recv/send are the plain system calls.
 */

static int net_accept(void)
{
	return io == IO_RING ? sact_ring_accept(lfd, NULL, NULL) :
			       sact_accept(lfd, NULL, NULL);
}

static ssize_t net_recv(int fd, void *buf, size_t len)
{
	return io == IO_RING ? sact_ring_recv(fd, buf, len, 0) :
			       sact_recv(fd, buf, len, 0);
}

/* Send all of buf: 0, or -1 if the connection broke. */
static int net_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = io == IO_RING ?
			    sact_ring_send(fd, buf, len, MSG_NOSIGNAL) :
			    sact_send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Refuse a request the way Go does (what: its status line), then close
 * our side and wait for the client to close its own (so that what it
 * sends meanwhile does not reset the connection before it reads this).
 */
static void refuse(int fd, const char *what)
{
	char buf[256];

	if (net_send_all(fd, buf, http_refusal(buf, sizeof(buf), what)))
		return;
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < HTTP_DRAIN_RECVS &&
			net_recv(fd, buf, sizeof(buf)) > 0; i++)
		;
}

/*
 * A G's stack pages stay resident once touched, so the buffers of a
 * connection's G are sized for the common request and grow on the heap
 * for the rare large one: an idle keep-alive connection then holds two
 * pages of stack, not the six that buffers for the largest head and
 * answer made it touch.
 */
#define HEAD_SMALL	1024		/* a head this long is read on the stack */
#define ANSWER_SMALL	1024		/* an answer this long is built there */

/* Answer a parsed request in one send: 0, or -1 if the connection broke. */
static int answer(int fd, const struct http_request *r)
{
	char small[ANSWER_SMALL], *out = small;
	size_t len, need = http_answer_size(r);
	const char *start;
	int err;

	if (need > sizeof(small) && !(out = malloc(need)))
		return -1;
	start = http_answer(out, r, &len);
	atomic_fetch_add(&nrequests, 1);
	err = net_send_all(fd, start, len);
	if (out != small)
		free(out);
	return err;
}

/* --- a connection: read a request, answer it, until the client leaves --- */

/*
 * The reads of a connection go to buf, cap bytes (+1 for the parser's
 * NUL): HEAD_SMALL on the stack, HTTP_HEAD_MAX on the heap once a head
 * did not fit.
 */
static void serve_on(int fd, char *buf, size_t cap)
{
	char *big = NULL;
	size_t have = 0, end;
	struct http_request r;
	const char *bad;
	ssize_t n;

	for (;;) {
		/* read until the empty line that ends the head */
		while (!(end = http_head_end(buf, have))) {
			if (have == cap && cap < HTTP_HEAD_MAX) {
				if (!(big = malloc(HTTP_HEAD_MAX + 1)))
					return;
				buf = memcpy(big, buf, have);
				cap = HTTP_HEAD_MAX;
			}
			if (have == cap) {
				refuse(fd, HTTP_TOO_LARGE);
				goto out;
			}
			n = net_recv(fd, buf + have, cap - have);
			if (n <= 0)
				goto out;	/* the client left */
			have += (size_t)n;
		}
		/* the next request may start at buf[end] */
		bad = http_parse_head(buf, end, &r);
		if (bad) {
			refuse(fd, bad);
			goto out;
		}
		if (answer(fd, &r))
			goto out;
		/* drop the body, keep what follows (a pipelined request) */
		while (r.length > (long long)(have - end)) {
			r.length -= (long long)(have - end);
			have = end = 0;
			n = net_recv(fd, buf, cap);
			if (n <= 0)
				goto out;
			have = (size_t)n;
		}
		end += (size_t)r.length;
		memmove(buf, buf + end, have - end);
		have -= end;
		if (r.close)
			goto out;
	}
out:
	free(big);
}

static void serve(int fd)
{
	char small[HEAD_SMALL + 1];

	serve_on(fd, small, HEAD_SMALL);
}

/* The end of a connection. */
static void conn_close(int fd)
{
	atomic_store(&live[fd], false);
	close(fd);
	atomic_fetch_sub(&nlive, 1);
}

static void conn_g(void *arg)
{
	serve((int)(intptr_t)arg);
	conn_close((int)(intptr_t)arg);
	sact_wg_done(&conns);
}

static void *conn_thread(void *arg)
{
	serve((int)(intptr_t)arg);
	conn_close((int)(intptr_t)arg);
	return NULL;
}

/*
 * Stop: called by the accept loop once the signal handler shut the
 * listening socket.  Shut every connection still open, so that its
 * recv returns 0.  A connection accepted meanwhile marks itself live
 * before it looks at stopping, so none is missed; a stale mark on a
 * reused descriptor can only name another of our connections.
 */
static void shut_all(void)
{
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (atomic_load(&live[fd]))
			shutdown(fd, SHUT_RDWR);
}

/* Accept connections and give each its G (or thread) until stopped. */
static void accept_loop(void *arg)
{
	int one = 1, fd;
	pthread_t t;

	printf("httpd: listening on 127.0.0.1:%d, io %s", *(int *)arg,
	       io_names[io]);
	if (io != IO_THREAD)
		printf(", backend %s", sact_backend_name(sact_backend()));
	printf("\n");
	fflush(stdout);
	for (long pause_ms = 0;;) {
		fd = net_accept();
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS ||
		    fd == -ENOMEM) {
			/* out of descriptors or memory for now: wait for
			 * connections to close, as net/http does (5 ms,
			 * doubling up to 1 s) */
			pause_ms = pause_ms ? pause_ms * 2 : 5;
			if (pause_ms > 1000)
				pause_ms = 1000;
			fprintf(stderr, "httpd: accept: %s; retrying in %ld ms\n",
				strerror(-fd), pause_ms);
			if (io != IO_THREAD)
				sact_sleep_ns((uint64_t)pause_ms * 1000000);
			else
				usleep((useconds_t)pause_ms * 1000);
			continue;
		}
		if (fd == -EINTR || fd == -ECONNABORTED)
			continue;
		if (fd < 0)
			break;
		pause_ms = 0;
		if (fd >= MAX_FDS) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		atomic_store(&live[fd], true);
		atomic_fetch_add(&nconns, 1);
		atomic_fetch_add(&nlive, 1);
		if (atomic_load(&stopping))
			shutdown(fd, SHUT_RDWR);
		if (io != IO_THREAD) {
			sact_wg_add(&conns, 1);
			if (sact_go(conn_g, (void *)(intptr_t)fd) == 0)
				continue;
			sact_wg_done(&conns);
		} else if (!pthread_create(&t, NULL, conn_thread,
					   (void *)(intptr_t)fd)) {
			pthread_detach(t);
			continue;
		}
		conn_close(fd);		/* no memory for a G or a thread */
	}
	if (!atomic_load(&stopping))
		fprintf(stderr, "httpd: accept: %s\n", strerror(-fd));
	shut_all();
	if (io != IO_THREAD)
		sact_wg_wait(&conns);
	else
		while (atomic_load(&nlive))
			usleep(1000);
}

/* SIGINT, SIGTERM: wake the accept loop (shutdown is async-signal-safe). */
static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, true);
	shutdown(lfd, SHUT_RDWR);
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--port N] [--io ring|block|thread] "
		"[--backend auto|kmod|bpf|sysmon|none] [--procs N]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'P' },
		{ "io", required_argument, NULL, 'i' },
		{ "backend", required_argument, NULL, 'b' },
		{ "procs", required_argument, NULL, 'p' },
		{ 0 }
	};
	struct sact_config cfg = { .size = sizeof(cfg), .standby = -1 };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(8080) };
	struct sigaction sig = { .sa_handler = on_signal,
				 .sa_flags = SA_RESTART };
	struct rlimit files = { MAX_FDS, MAX_FDS };
	static char stdout_buf[BUFSIZ];
	socklen_t salen = sizeof(sa);
	int opt, one = 1, port, err = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int b = -1;

		switch (opt) {
		case 'P': sa.sin_port = htons((uint16_t)atoi(optarg)); break;
		case 'p': cfg.nprocs = atoi(optarg); break;
		case 'i':
			for (io = IO_RING; io <= IO_THREAD; io++)
				if (!strcmp(optarg, io_names[io]))
					break;
			if (io > IO_THREAD)
				usage(argv[0]);
			break;
		case 'b':
			for (int i = SACT_BACKEND_AUTO; i <= SACT_BACKEND_NONE; i++)
				if (!strcmp(optarg, sact_backend_name(i)))
					b = i;
			if (b < 0)
				usage(argv[0]);
			cfg.backend = (enum sact_backend)b;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
	setrlimit(RLIMIT_NOFILE, &files);	/* 1024 clients; best effort */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen)) {
		perror("httpd: listen");
		return 1;
	}
	port = ntohs(sa.sin_port);
	/*
	 * Whatever libc allocates on its first use happens here, on the
	 * main thread: glibc gives a thread that first calls malloc an arena
	 * of its own, 64 MiB of address space (the VSZ that ps shows).  So:
	 * stdout's buffer, and the time zone gmtime_r loads on its first call.
	 */
	setvbuf(stdout, stdout_buf, _IOLBF, sizeof(stdout_buf));
	tzset();
	sigaction(SIGINT, &sig, NULL);
	sigaction(SIGTERM, &sig, NULL);
	if (io == IO_THREAD)
		accept_loop(&port);
	else
		err = sact_run(&cfg, accept_loop, &port);
	if (err) {
		fprintf(stderr, "httpd: sact_run(%s): %s\n",
			sact_backend_name(cfg.backend), strerror(-err));
		return 1;
	}
	close(lfd);
	printf("httpd: stopped; %ld requests answered on %ld connections\n",
	       atomic_load(&nrequests), atomic_load(&nconns));
	return 0;
}
