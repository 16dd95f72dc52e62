// SPDX-License-Identifier: GPL-2.0
/*
 * echo_server.c - a TCP echo server on loopback, one G (or thread) per
 * connection, written the plain blocking way; echo_load.c drives it from
 * another process, go/echo.go is the same server in Go.
 *
 *   block    G per connection; sact_accept/sact_recv/sact_send: the M
 *            blocks in the kernel and the backend (-b) hands its P on
 *   ring     G per connection; sact_ring_accept/recv/send on the P's
 *            io_uring: the G parks, its M runs other Gs
 *   pthread  a pthread per connection, blocking calls
 *
 * Each connection: read exactly SIZE bytes, write them back, until EOF.
 *
 *	build/bench/echo_server [-m block|ring|pthread] [-b BACKEND]
 *				[-p NPROCS] [-S STANDBY] [-s SIZE] [-P PORT]
 *
 * Defaults: -m block -b sysmon -p 2 -S -1 (the runtime's default)
 * -s 64 -P 0 (any free port).  Prints "port N" once it listens, then
 * serves until killed.  Exit 1 (with a message) if the runtime does not
 * start, e.g. an unavailable backend.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench.h"

static int mode = IO_BLOCK, lfd, port;
static size_t size = 64;

static ssize_t do_recv(int fd, void *buf, size_t n)
{
	return mode == IO_RING ? sact_ring_recv(fd, buf, n, 0) :
	       mode == IO_BLOCK ? sact_recv(fd, buf, n, 0) : recv(fd, buf, n, 0);
}

static ssize_t do_send(int fd, const void *buf, size_t n)
{
	return mode == IO_RING ? sact_ring_send(fd, buf, n, MSG_NOSIGNAL) :
	       mode == IO_BLOCK ? sact_send(fd, buf, n, MSG_NOSIGNAL) :
			       send(fd, buf, n, MSG_NOSIGNAL);
}

static void conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[size];

	for (;;) {
		size_t got = 0, put = 0;
		ssize_t r;

		while (got < size) {
			r = do_recv(fd, buf + got, size - got);
			if (r <= 0)
				goto out_close;
			got += r;
		}
		while (put < size) {
			r = do_send(fd, buf + put, size - put);
			if (r <= 0)
				goto out_close;
			put += r;
		}
	}
out_close:
	close(fd);
}

static void *conn_thread(void *arg)
{
	conn(arg);
	return NULL;
}

static int do_accept(void)
{
	return mode == IO_RING ? sact_ring_accept(lfd, NULL, NULL) :
	       mode == IO_BLOCK ? sact_accept(lfd, NULL, NULL) :
			       accept(lfd, NULL, NULL);
}

static void acceptor(void *arg)
{
	int one = 1, fd;

	(void)arg;
	/* said only once the runtime has started (a backend may not) */
	printf("port %d\n", port);
	fflush(stdout);
	while ((fd = do_accept()) >= 0) {
		pthread_t t;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (mode != IO_PTHREAD) {
			if (sact_go(conn, (void *)(long)fd))
				abort();
		} else if (pthread_create(&t, NULL, conn_thread,
					  (void *)(long)fd)) {
			abort();
		} else {
			pthread_detach(t);
		}
	}
	fprintf(stderr, "echo_server: accept: %s\n",
		strerror(mode == IO_PTHREAD ? errno : -fd));
	exit(1);
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 2,
				 .standby = -1, .backend = SACT_BACKEND_SYSMON };
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int opt, err, one = 1;

	while ((opt = getopt(argc, argv, "m:b:p:S:s:P:")) != -1) {
		switch (opt) {
		case 'p': c.nprocs = atoi(optarg); break;
		case 'S': c.standby = atoi(optarg); break;
		case 's': size = atol(optarg); break;
		case 'P': a.sin_port = htons(atoi(optarg)); break;
		default:
			if (!io_opt(opt, optarg, &mode, &c))
				goto usage;
		}
	}
	if (size < 1 || size > 65536)
		goto usage;
	want_files(65536);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen)) {
		perror("echo_server: listen");
		return 1;
	}
	port = ntohs(a.sin_port);
	if (mode == IO_PTHREAD) {
		acceptor(NULL);
		return 1;
	}
	err = sact_run(&c, acceptor, NULL);
	return bench_run_failed("echo_server", c.backend, err);
usage:
	fprintf(stderr, "usage: see the top of userspace/bench/echo_server.c\n");
	return 2;
}
