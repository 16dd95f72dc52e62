// SPDX-License-Identifier: GPL-2.0
/*
 * echo_load.c - the load generator for the echo servers (echo_server.c,
 * go/echo.go), a process of its own: C connections to 127.0.0.1:PORT,
 * each closed-loop (send SIZE bytes, wait for all of them back, send
 * again), driven by one thread in epoll, for D seconds.
 *
 *	build/bench/echo_load [-c CONNS] [-s SIZE] [-d SECONDS] [-l LABEL]
 *			      -P PORT [-S SERVER_PID]
 *	build/bench/echo_load [-c CONNS] [-s SIZE] [-d SECONDS] [-l LABEL]
 *			      -- SERVER [ARGS...]
 *
 * Defaults: -c 64 -s 64 -d 2.  With -S, the server's threads are sampled
 * (every ms) and the peak reported.  The second form starts the server
 * itself, reads its "port N" line, and kills it at the end; a server that
 * exits instead (a backend that is unavailable) makes echo_load print
 * its message and exit 3.  Prints one line:
 *   echo server=LABEL conns=C size=S requests_per_s=.. p50_us=.. p99_us=..
 *        threads=.. starved=..
 * starved: connections that got no answer at all in the run (a server
 * that serves only as many connections as it has threads).  Exit 1 if
 * connecting fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bench.h"

struct conn {
	int fd;
	size_t got;		/* bytes of the answer so far */
	int64_t sent_at;
	long done;		/* answers */
};

static size_t size = 64;
static char *msg, *sink;
static int64_t *lat;
static long nlat, maxlat;

static int send_msg(struct conn *c)
{
	c->got = 0;
	c->sent_at = now_ns();
	/* SIZE <= 64 KiB fits an empty socket buffer: one call sends it */
	return send(c->fd, msg, size, MSG_NOSIGNAL) == (ssize_t)size ? 0 : -1;
}

/* Read what is there; on a whole answer record it and send again. */
static int on_readable(struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, sink, size - c->got, 0);

		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		if (r == 0)
			return -1;
		c->got += r;
		if (c->got < size)
			continue;
		if (nlat < maxlat)
			lat[nlat++] = now_ns() - c->sent_at;
		c->done++;
		return send_msg(c);
	}
}

/*
 * Start argv[] with its stdout on a pipe and read its "port N" line.
 * The port, or -1 if the server exited first (its stderr is ours).
 */
static int start_server(char **argv, pid_t *pid)
{
	int p[2], port = -1;
	FILE *f;

	if (pipe(p))
		return -1;
	*pid = fork();
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* if we die early */
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (*pid < 0 || !f || fscanf(f, "port %d", &port) != 1)
		port = -1;
	return port;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const char *label = "?";
	int nconns = 64, opt, ep, threads = -1;
	struct epoll_event ev[256];
	double secs = 2;
	pid_t server = 0, started = 0;
	struct tsampler ts;
	struct conn *conns;
	long total = 0, starved = 0;
	int64_t t0, end;

	while ((opt = getopt(argc, argv, "P:c:s:d:S:l:")) != -1) {
		switch (opt) {
		case 'P': a.sin_port = htons(atoi(optarg)); break;
		case 'c': nconns = atoi(optarg); break;
		case 's': size = atol(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'S': server = atoi(optarg); break;
		case 'l': label = optarg; break;
		default:
			goto usage;
		}
	}
	want_files(nconns + 256);	/* the server inherits it */
	if (optind < argc) {
		int port = start_server(argv + optind, &server);

		if (port < 0) {
			waitpid(server, NULL, 0);
			return 3;
		}
		a.sin_port = htons(port);
		started = server;
	}
	if (!a.sin_port || nconns < 1 || size < 1 || size > 65536 || secs <= 0)
		goto usage;
	maxlat = 4000000;
	conns = calloc(nconns, sizeof(*conns));
	lat = malloc(sizeof(*lat) * maxlat);
	msg = calloc(1, size);
	sink = malloc(size);
	ep = epoll_create1(0);
	if (!conns || !lat || !msg || !sink || ep < 0)
		return 1;
	memset(msg, 'e', size);
	if (server && tsampler_start(&ts, server))
		return 1;
	for (int i = 0; i < nconns; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &conns[i] };
		int one = 1;

		conns[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		if (conns[i].fd < 0 ||
		    connect(conns[i].fd, (struct sockaddr *)&a, sizeof(a))) {
			perror("echo_load: connect");
			return 1;
		}
		setsockopt(conns[i].fd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
		fcntl(conns[i].fd, F_SETFL, O_NONBLOCK);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &e))
			return 1;
	}
	t0 = now_ns();
	end = t0 + (int64_t)(secs * 1e9);
	for (int i = 0; i < nconns; i++)
		if (send_msg(&conns[i])) {
			perror("echo_load: send");
			return 1;
		}
	while (now_ns() < end) {
		int n = epoll_wait(ep, ev, 256, 10);

		for (int i = 0; i < n; i++)
			if (on_readable(ev[i].data.ptr)) {
				fprintf(stderr, "echo_load: connection lost\n");
				return 1;
			}
	}
	end = now_ns();
	if (server)
		threads = tsampler_stop(&ts);
	for (int i = 0; i < nconns; i++) {
		total += conns[i].done;
		starved += !conns[i].done;
	}
	printf("echo server=%s conns=%d size=%zu requests_per_s=%.0f "
	       "p50_us=%.1f p99_us=%.1f threads=%d starved=%ld\n", label,
	       nconns, size, total / ((end - t0) / 1e9),
	       quantile(lat, nlat, 0.5) / 1e3, quantile(lat, nlat, 0.99) / 1e3,
	       threads, starved);
	if (started) {
		kill(started, SIGKILL);
		waitpid(started, NULL, 0);
	}
	return 0;
usage:
	fprintf(stderr, "usage: see the top of userspace/bench/echo_load.c\n");
	return 2;
}
