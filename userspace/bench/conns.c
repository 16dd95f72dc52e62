// SPDX-License-Identifier: GPL-2.0
/*
 * conns.c - the conns workload: what idle keep-alive connections cost a
 * hello HTTP server (userspace/demos/httpd, go/ex1.go, ring_loop), in
 * memory and threads.
 *
 * An idle connection of a server with a G per connection is a G parked
 * in a socket read: the stack pages it touched and whatever buffer it
 * keeps across reads; of an event loop, a state and a buffer.  This
 * measures it from outside, as a user would: the server's VmRSS before
 * and after N connections that each made one request and then stay open
 * and silent, divided by N.
 *
 *	build/bench/conns [-n N] [-w SECONDS] -- SERVER [ARGS...]
 *
 * 1. Raise RLIMIT_NOFILE's soft limit to N + 64 (the hard one too where
 *    allowed: root), then start SERVER, which inherits it.  If the hard
 *    limit is lower and cannot be raised: a one-line reason, exit 4.
 * 2. SERVER's stdout goes to a pipe, its stderr to an unlinked temp file;
 *    wait for its "listening on 127.0.0.1:PORT" line (httpd, ex1 and
 *    ring_loop all print one), let it settle SECONDS, read its VmRSS
 *    (/proc/PID/status).
 * 3. Open N connections to the port, non-blocking, at most WINDOW of them
 *    unanswered at once (far below the listen backlogs, 4096, so that no
 *    SYN is dropped and retried a second later); on each send one
 *    "GET /bar HTTP/1.1" and read the whole answer by its Content-Length:
 *    it must be a 200 with the body `Hello, "/bar"`.  wall: from the
 *    first connect to the last answer.
 * 4. Every connection open and idle, wait SECONDS (default 1), read
 *    VmRSS, VmSize and Threads again and print one line:
 *      conns n=N answered=.. failed=.. wall_ms=.. rss_before_kib=..
 *            rss_kib=.. kib_per_conn=.. threads=.. vsz_kib=..
 *    kib_per_conn = (rss_kib - rss_before_kib) / N.
 * 5. Close the connections, stop SERVER (SIGTERM; SIGKILL after 5 s).
 *
 * Exit 0; 1 if a connection failed (the count and the first failure,
 * with its errno, are the first line on stderr); 2 usage; 3 if SERVER
 * exits or stays silent (with its first line of stderr); 4 if the open
 * files' hard limit is too low.  Loopback only.  Bounded: 30 s with no
 * progress fails the connections left; after 120 s + 2 x SECONDS in all
 * (SIGALRM) the server is killed and conns exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bench.h"

#define FD_MARGIN	64	/* conns's own files, and the server's */
#define WINDOW		512	/* connections unanswered at once */
#define ANSWER_MAX	512	/* the greeting's answer is ~150 bytes */
#define STALL_NS	30000000000LL
#define GUARD_S		120

static const char request[] = "GET /bar HTTP/1.1\r\nHost: x\r\n\r\n";
static const char greeting[] = "Hello, \"/bar\"";

enum state { CONNECTING, READING, DONE, FAILED };

struct conn {
	int fd;
	enum state state;
	int got;			/* bytes of the answer so far */
	char buf[ANSWER_MAX];
};

static volatile pid_t server;
static long failed;
static char first_failure[256];

static void on_signal(int sig)
{
	static const char guard[] = "conns: hang guard: no end in time; "
				    "server killed\n";
	static const char stop[] = "conns: stopped by a signal; server "
				   "killed\n";

	if (server > 0)
		kill(server, SIGKILL);
	if (sig == SIGALRM ? write(2, guard, sizeof(guard) - 1) :
			     write(2, stop, sizeof(stop) - 1)) {
		/* nothing more to say */
	}
	_exit(1);
}

/*
 * Allow n open files in this process and its children.  0, or -1 with a
 * message if the hard limit is below n and may not be raised.
 */
static int raise_nofile(rlim_t n)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return -1;
	if (r.rlim_cur >= n)
		return 0;
	if (r.rlim_max >= n) {
		r.rlim_cur = n;
		return setrlimit(RLIMIT_NOFILE, &r) ? -1 : 0;
	}
	{
		struct rlimit want = { n, n };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			return 0;	/* root (CAP_SYS_RESOURCE) */
	}
	fprintf(stderr, "conns: open files: hard limit %lu < %lu needed "
		"(raise it: ulimit -Hn as root, or limits.conf); not run\n",
		(unsigned long)r.rlim_max, (unsigned long)n);
	return -1;
}

/* The first line of what the server wrote to err (its stderr), or "". */
static const char *first_line(int err)
{
	static char line[256];
	ssize_t n = pread(err, line, sizeof(line) - 1, 0);

	line[n > 0 ? n : 0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	return line;
}

/*
 * Say that the server ended (wait status st) while it should not have,
 * quoting its stderr (err), and return 3, conns's exit status for it.
 */
static int server_ended(const char *when, int st, int err)
{
	fprintf(stderr, "conns: the server %s %d %s: %s\n",
		WIFEXITED(st) ? "exited with" : "was killed by signal",
		WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), when,
		first_line(err));
	server = 0;
	return 3;
}

/*
 * Start argv[] with its stdout on a pipe (*out: the read end) and its
 * stderr on err; it dies with conns (PR_SET_PDEATHSIG).  Its pid, or -1.
 * Precondition: argv[0] != NULL; err is open for writing.
 */
static pid_t start_server(char **argv, int err, int *out)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(p[1], 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
	return pid;
}

/*
 * Read the server's stdout (out) until a line says "listening on
 * 127.0.0.1:PORT": the port, or -1 at its end of file or after 30 s.
 */
static int wait_listening(int out)
{
	static const char key[] = "listening on 127.0.0.1:";
	char buf[4096];
	size_t len = 0;
	int64_t end = now_ns() + 30000000000LL;

	while (len < sizeof(buf) - 1 && now_ns() < end) {
		struct pollfd p = { .fd = out, .events = POLLIN };
		char *k;
		ssize_t r;

		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(out, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			return -1;
		len += r;
		buf[len] = '\0';
		k = strstr(buf, key);
		if (k && strchr(k, '\n'))
			return atoi(k + sizeof(key) - 1);
	}
	return -1;
}

struct pstatus {
	long rss_kib, vsz_kib, threads;
};

/* VmRSS, VmSize and Threads of process pid into *s: 0, or -1 if gone. */
static int read_status(pid_t pid, struct pstatus *s)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	*s = (struct pstatus){ -1, -1, -1 };
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", &s->rss_kib);
		sscanf(line, "VmSize: %ld", &s->vsz_kib);
		sscanf(line, "Threads: %ld", &s->threads);
	}
	fclose(f);
	return s->threads > 0 ? 0 : -1;	/* a zombie has no VmRSS either */
}

/*
 * Connection i failed in what (err: its errno, or 0): close it, count
 * it, and keep the first failure's words for the end.
 * Precondition: c is CONNECTING or READING.
 */
static void fail(struct conn *c, int i, const char *what, int err)
{
	if (!failed++)
		snprintf(first_failure, sizeof(first_failure),
			 "connection %d: %s%s%s", i, what, err ? ": " : "",
			 err ? strerror(err) : "");
	close(c->fd);
	c->fd = -1;
	c->state = FAILED;
}

/*
 * Give up: fail the connections under way (conns[0..next) not yet
 * answered or failed) and count those never started (conns[next..n)).
 */
static void fail_rest(struct conn *conns, int n, int next, const char *why)
{
	for (int i = 0; i < next; i++)
		if (conns[i].state == CONNECTING || conns[i].state == READING)
			fail(&conns[i], i, why, 0);
	failed += n - next;
}

/*
 * Whether c's answer is whole: 1 and it is the greeting's, 0 not yet,
 * -1 it is not (*why says how).
 */
static int answer_done(struct conn *c, const char **why)
{
	char *end, *cl;
	long len;

	c->buf[c->got] = '\0';
	end = strstr(c->buf, "\r\n\r\n");
	if (!end) {
		*why = "answer head too long";
		return c->got < ANSWER_MAX - 1 ? 0 : -1;
	}
	end += 4;
	cl = strcasestr(c->buf, "\r\nContent-Length:");
	*why = "not a 200 with a Content-Length";
	if (strncmp(c->buf, "HTTP/1.1 200 ", 13) || !cl || cl > end)
		return -1;
	len = strtol(cl + 17, NULL, 10);
	*why = "answer too long";
	if (len < 0 || end - c->buf + len >= ANSWER_MAX)
		return -1;
	if (c->buf + c->got < end + len)
		return 0;
	*why = "not the greeting";
	return c->buf + c->got == end + len &&
	       len == sizeof(greeting) - 1 &&
	       !memcmp(end, greeting, len) ? 1 : -1;
}

/*
 * Start connection i to a (non-blocking; epoll ep waits for it to
 * connect).  false if it failed already.
 * Precondition: c is zeroed.
 */
static bool conn_start(struct conn *c, int i, int ep,
		       const struct sockaddr_in *a)
{
	struct epoll_event e = { .events = EPOLLOUT, .data.u32 = i };

	c->state = CONNECTING;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		c->state = FAILED;
		if (!failed++)
			snprintf(first_failure, sizeof(first_failure),
				 "connection %d: socket: %s", i,
				 strerror(errno));
		return false;
	}
	if ((connect(c->fd, (const struct sockaddr *)a, sizeof(*a)) &&
	     errno != EINPROGRESS) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e)) {
		fail(c, i, "connect", errno);
		return false;
	}
	return true;
}

/*
 * Connection i is ready (epoll): connected -> send the request; readable
 * -> read the answer.  true if it is now answered or failed.
 * Precondition: c is CONNECTING or READING, registered with ep.
 */
static bool conn_event(struct conn *c, int i, int ep)
{
	const char *why;
	int err = 0;
	socklen_t l = sizeof(err);

	if (c->state == CONNECTING) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = i };

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
			fail(c, i, "connect", err ? err : errno);
			return true;
		}
		/* 31 bytes fit an empty socket buffer: one call sends them */
		if (send(c->fd, request, sizeof(request) - 1, MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(request) - 1 ||
		    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e)) {
			fail(c, i, "send", errno);
			return true;
		}
		c->state = READING;
		return false;
	}
	for (;;) {
		ssize_t r = recv(c->fd, c->buf + c->got,
				 ANSWER_MAX - 1 - c->got, 0);

		if (r < 0 && errno == EAGAIN)
			return false;
		if (r <= 0) {
			fail(c, i, r ? "recv" : "closed before the answer",
			     r ? errno : 0);
			return true;
		}
		c->got += r;
		switch (answer_done(c, &why)) {
		case 0:
			continue;
		case -1:
			fail(c, i, why, 0);
			return true;
		}
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->state = DONE;
		return true;
	}
}

/* SIGTERM the server, SIGKILL it after 5 s; reap it. */
static void stop_server(void)
{
	pid_t pid = server;
	int64_t end = now_ns() + 5000000000LL;
	const struct timespec ms10 = { 0, 10000000 };

	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		nanosleep(&ms10, NULL);
	}
	server = 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sigaction sa = { .sa_handler = on_signal };
	struct epoll_event ev[256];
	struct pstatus before, after;
	struct timespec settle;
	struct conn *conns;
	int n = 10000, opt, err, out = -1, port, ep, st, inflight = 0, next = 0;
	long answered = 0;
	double secs = 1;
	int64_t t0, t1, progress;

	while ((opt = getopt(argc, argv, "n:w:")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'w': secs = atof(optarg); break;
		default: goto usage;
		}
	}
	if (optind >= argc || n < 1 || secs < 0 || secs > 60)
		goto usage;
	settle.tv_sec = (time_t)secs;
	settle.tv_nsec = (long)((secs - (double)settle.tv_sec) * 1e9);
	if (raise_nofile((rlim_t)n + FD_MARGIN))
		return 4;
	conns = calloc(n, sizeof(*conns));
	ep = epoll_create1(EPOLL_CLOEXEC);
	{
		FILE *tmp = tmpfile();

		/* unlinked already; the server's fd 2 only */
		err = tmp ? fcntl(fileno(tmp), F_DUPFD_CLOEXEC, 3) : -1;
		if (tmp)
			fclose(tmp);
	}
	if (!conns || ep < 0 || err < 0) {
		perror("conns: setting up");
		return 1;
	}
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	alarm(GUARD_S + 2 * (unsigned int)secs);

	server = start_server(argv + optind, err, &out);
	if (server < 0) {
		perror("conns: starting the server");
		return 1;
	}
	port = wait_listening(out);
	if (port <= 0) {
		if (waitpid(server, &st, WNOHANG) == server)
			return server_ended("before it listened", st, err);
		fprintf(stderr, "conns: %s said no \"listening on "
			"127.0.0.1:PORT\" in 30 s: %s\n", argv[optind],
			first_line(err));
		stop_server();
		return 3;
	}
	a.sin_port = htons(port);
	nanosleep(&settle, NULL);
	if (read_status(server, &before)) {
		waitpid(server, &st, 0);
		return server_ended("after it listened", st, err);
	}

	t0 = t1 = progress = now_ns();
	while (answered + failed < n) {
		int k;

		for (; inflight < WINDOW && next < n; next++)
			inflight += conn_start(&conns[next], next, ep, &a);
		if (!inflight)
			continue;	/* all started have failed: start more */
		k = epoll_wait(ep, ev, 256, 1000);
		if (k < 0 && errno != EINTR) {
			perror("conns: epoll_wait");
			fail_rest(conns, n, next, "epoll_wait failed");
			break;
		}
		for (int j = 0; j < k; j++) {
			int i = (int)ev[j].data.u32;

			if (!conn_event(&conns[i], i, ep))
				continue;
			inflight--;
			if (conns[i].state == DONE) {
				answered++;
				t1 = now_ns();
			}
		}
		if (k > 0) {
			progress = now_ns();
			continue;
		}
		if (waitpid(server, &st, WNOHANG) == server)
			return server_ended("during the connections", st, err);
		if (now_ns() - progress > STALL_NS) {
			fail_rest(conns, n, next, "no answer in 30 s");
			break;
		}
	}

	nanosleep(&settle, NULL);
	if (read_status(server, &after)) {
		waitpid(server, &st, 0);
		return server_ended("with the connections open", st, err);
	}
	printf("conns n=%d answered=%ld failed=%ld wall_ms=%.1f "
	       "rss_before_kib=%ld rss_kib=%ld kib_per_conn=%.2f threads=%ld "
	       "vsz_kib=%ld\n", n, answered, failed, (t1 - t0) / 1e6,
	       before.rss_kib, after.rss_kib,
	       (double)(after.rss_kib - before.rss_kib) / n, after.threads,
	       after.vsz_kib);
	fflush(stdout);
	for (int i = 0; i < n; i++)
		if (conns[i].state == DONE)
			close(conns[i].fd);
	stop_server();
	if (failed) {
		fprintf(stderr, "conns: %ld of %d connections failed; the "
			"first: %s\n", failed, n, first_failure);
		return 1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: conns [-n N] [-w SECONDS] -- SERVER "
		"[ARGS...] (see the top of userspace/bench/conns.c)\n");
	return 2;
}
