// SPDX-License-Identifier: GPL-2.0
/*
 * echo - a blocking echo server, written in plain blocking style, serving
 * 200 clients at once on two Ps.
 *
 * The server is the code anyone would write with one thread per client:
 * an accept loop, and per connection "receive, send it back, until EOF".
 * Here each connection is a G, not a thread, and calls sact_ring_accept /
 * sact_ring_recv / sact_ring_send: the same blocking shape as accept,
 * recv and send, but the G parks on its P's io_uring and the M runs other
 * Gs.  (A raw blocking recv would hold one OS thread per idle client -
 * 200 threads - which is what an M:N runtime is for avoiding.)  With
 * --raw-accept the accept loop calls plain accept(2) instead: under kmod
 * the M blocked in it gives its P to a standby at once; under sysmon or
 * none it keeps its P while it waits (the raw call is invisible to them).
 * The clients are a child process with ordinary blocking sockets: it opens
 * 200 loopback connections, then round after round sends a message of its
 * own on each and reads every echo back, byte for byte.
 *
 * Once a second: connections accepted, bytes echoed, OS threads of the
 * server.  The verdict says how many bytes the clients got back intact.
 *
 * Run it:
 *   make demo DEMO=echo                                in the QEMU VM
 *   sudo insmod build/kmod/sact.ko && build/demos/echo     real host
 *   build/demos/echo                 anywhere (AUTO: kmod if loaded, else sysmon)
 * Options: --short (3 rounds, then the checks of demo.h), --backend NAME,
 * --raw-accept (last).
 * Needs io_uring (exit 4 where it is disabled).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "demo.h"

#define NCONN		200
#define MAXMSG		512

static int rounds;
static int lfd;
static bool raw_accept;
static _Atomic uint64_t accepted, echoed;
static _Atomic int server_threads, ring_err;
static struct sact_waitgroup wg;

/* The length and the byte k of the message of connection i in round r. */
static size_t msg_len(int i, int r)
{
	return 1 + (size_t)(i * 37 + r * 101) % MAXMSG;
}

static char msg_byte(int i, int r, size_t k)
{
	return (char)('!' + (i + r * 7 + (int)k) % 90);
}

static uint64_t expected_bytes(void)
{
	uint64_t n = 0;

	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < NCONN; i++)
			n += msg_len(i, r);
	return n;
}

/* --- the clients: a child process, plain blocking sockets ---------------- */

static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Exit status 0 iff every echo came back intact; *verified to the pipe. */
static int clients(const struct sockaddr_in *sa, int report)
{
	static int fd[NCONN];
	char out[MAXMSG], in[MAXMSG];
	uint64_t verified = 0;

	for (int i = 0; i < NCONN; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fd[i] < 0 || connect(fd[i], (const struct sockaddr *)sa,
					 sizeof(*sa)))
			return 1;
	}
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < NCONN; i++) {
			size_t len = msg_len(i, r);

			for (size_t k = 0; k < len; k++)
				out[k] = msg_byte(i, r, k);
			if (write(fd[i], out, len) != (ssize_t)len)
				return 1;
		}
		for (int i = 0; i < NCONN; i++) {
			size_t len = msg_len(i, r);

			if (read_full(fd[i], in, len))
				return 1;
			for (size_t k = 0; k < len; k++)
				if (in[k] != msg_byte(i, r, k))
					return 1;
			verified += len;
		}
	}
	for (int i = 0; i < NCONN; i++) {
		if (shutdown(fd[i], SHUT_WR) || read(fd[i], in, 1) != 0)
			return 1;		/* the server closes after EOF */
		close(fd[i]);
	}
	return write(report, &verified, sizeof(verified)) ==
	       sizeof(verified) ? 0 : 1;
}

/* --- the server: Gs in plain blocking style -------------------------------- */

static void conn_g(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[MAXMSG];

	for (;;) {
		ssize_t n = sact_ring_recv(fd, buf, sizeof(buf), 0), off = 0;

		if (n <= 0) {
			if (n < 0)
				atomic_store(&ring_err, (int)n);
			break;
		}
		while (off < n) {
			ssize_t w = sact_ring_send(fd, buf + off,
						   (size_t)(n - off), 0);

			if (w <= 0) {
				atomic_store(&ring_err, w ? (int)w : -EPIPE);
				goto out;
			}
			off += w;
		}
		atomic_fetch_add(&echoed, (uint64_t)n);
	}
out:
	close(fd);
	sact_wg_done(&wg);
}

static void accept_g(void *arg)
{
	(void)arg;
	for (int i = 0; i < NCONN; i++) {
		int fd = raw_accept ? accept(lfd, NULL, NULL) :
			 sact_ring_accept(lfd, NULL, NULL);

		if (fd < 0) {
			printf("echo: accept: %s\n",
			       strerror(raw_accept ? errno : -fd));
			break;
		}
		atomic_fetch_add(&accepted, 1);
		sact_wg_add(&wg, 1);
		sact_go(conn_g, (void *)(intptr_t)fd);
	}
	sact_wg_wait(&wg);
	atomic_store(&server_threads, demo_threads());
}

static void show(double t)
{
	struct sact_stats st = { .size = sizeof(st) };

	sact_stats(&st);
	printf("  %5.1f s  connections %3llu/%d  bytes echoed %8llu/%llu  "
	       "handoffs %5llu  threads %d\n", t,
	       (unsigned long long)atomic_load(&accepted), NCONN,
	       (unsigned long long)atomic_load(&echoed),
	       (unsigned long long)expected_bytes(),
	       (unsigned long long)st.handoffs, demo_threads());
	fflush(stdout);
}

int main(int argc, char **argv)
{
	enum sact_backend b = SACT_BACKEND_AUTO;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct sact_stats st = { .size = sizeof(st) };
	struct demo_ticker tk;
	struct sact_config c;
	bool short_mode = false;
	uint64_t verified = 0;
	int report[2], err, status;
	pid_t child;

	if (argc > 1 && !strcmp(argv[argc - 1], "--raw-accept")) {
		raw_accept = true;
		argc--;
	}
	if (demo_options(argc, argv, " [--raw-accept]", &short_mode, &b) !=
	    argc)
		return 2;
	rounds = short_mode ? 3 : 40;
	c = demo_config(2, 2, b);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, NCONN) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) ||
	    pipe2(report, O_CLOEXEC)) {
		perror("echo: listen");
		return 1;
	}
	printf("echo: a blocking echo server on 127.0.0.1:%d, 2 Ps; %d "
	       "clients (a child process) send %d rounds of messages\n",
	       ntohs(sa.sin_port), NCONN, rounds);
	fflush(stdout);
	child = fork();
	if (child == 0) {
		close(lfd);
		_exit(clients(&sa, report[1]));
	}
	close(report[1]);
	demo_ticker_start(&tk, show);
	err = sact_run(&c, accept_g, NULL);
	demo_ticker_stop(&tk);
	if (err) {
		printf("echo: sact_run(%s): %s\n", sact_backend_name(b),
		       strerror(-err));
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return err == -ENODEV ? DEMO_SKIP : 1;
	}
	if (read(report[0], &verified, sizeof(verified)) != sizeof(verified))
		verified = 0;
	waitpid(child, &status, 0);
	sact_stats(&st);
	if (atomic_load(&ring_err) == -ENOSYS ||
	    atomic_load(&ring_err) == -EPERM) {
		printf("echo: io_uring is not available here: %s\n",
		       strerror(-ring_err));
		return DEMO_SKIP;
	}
	printf("verdict: %s: %llu of %d clients served, %llu bytes echoed, "
	       "%llu verified by the clients; %d Ps, %d Ms, %d OS threads, "
	       "%llu handoffs\n", sact_backend_name(st.backend),
	       (unsigned long long)accepted, NCONN,
	       (unsigned long long)echoed, (unsigned long long)verified,
	       st.nprocs, st.nms, server_threads,
	       (unsigned long long)st.handoffs);
	if (!short_mode)
		return 0;
	printf("# raw echo: backend=%s accepted=%llu echoed=%llu "
	       "verified=%llu expected=%llu threads=%d nms=%d\n",
	       sact_backend_name(st.backend), (unsigned long long)accepted,
	       (unsigned long long)echoed, (unsigned long long)verified,
	       (unsigned long long)expected_bytes(), server_threads, st.nms);
	demo_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "the clients got every echo back intact");
	demo_check(accepted == NCONN && echoed == expected_bytes() &&
		   verified == expected_bytes(),
		   "%d connections; bytes echoed = verified = %llu sent",
		   NCONN, (unsigned long long)expected_bytes());
	demo_check(ring_err == 0, "no ring call failed");
	demo_check(server_threads < NCONN / 4,
		   "%d OS threads for %d clients", server_threads, NCONN);
	return demo_status();
}
