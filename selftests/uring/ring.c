// SPDX-License-Identifier: GPL-2.0
/*
 * ring.c - the io_uring calls (sact_ring_*): every call against files,
 * pipes and loopback TCP with exact byte counts, 10k reads in flight at
 * once, timeouts and cancellation, sact_run returning with internal
 * requests in flight (no fd left behind), a G resumed on another M than
 * the one that submitted, and io_uring made unavailable by seccomp.
 * Each test runs at nprocs 1 and 2.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

FIXTURE(ring) { int unused; };
FIXTURE_SETUP(ring)
{
	if (sact_ring_available() < 0)
		SKIP(return, "io_uring unavailable: %s",
		     strerror(-sact_ring_available()));
}
FIXTURE_TEARDOWN(ring) { }
FIXTURE_VARIANT(ring) { int nprocs; };
FIXTURE_VARIANT_ADD(ring, p1) { 1 };
FIXTURE_VARIANT_ADD(ring, p2) { 2 };

static int run(int nprocs, void (*fn)(void *), void *arg)
{
	struct sact_config c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.nprocs = nprocs;
	c.standby = -1;
	c.backend = SACT_BACKEND_SYSMON;
	return sact_run(&c, fn, arg);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the DIR's own */
}

/* Failures seen inside Gs (the harness's ASSERTs cannot run there). */
static atomic_int fails;
static char failmsg[256];
#define G_CHECK(cond) do {						\
	if (!(cond) && atomic_fetch_add(&fails, 1) == 0)		\
		snprintf(failmsg, sizeof(failmsg), "%s:%d: %s",		\
			 __FILE__, __LINE__, #cond);			\
} while (0)

/* the same, saying what the two sides were */
#define G_CHECK_EQ(want, got) do {					\
	long _w = (want), _g = (got);					\
									\
	if (_w != _g && atomic_fetch_add(&fails, 1) == 0)		\
		snprintf(failmsg, sizeof(failmsg),			\
			 "%s:%d: %s is %ld, not %ld", __FILE__,		\
			 __LINE__, #got, _g, _w);			\
} while (0)

#define RUN_OK(fn, arg) do {						\
	atomic_store(&fails, 0);					\
	ASSERT_EQ(0, run(variant->nprocs, (fn), (arg)));		\
	EXPECT_EQ(0, atomic_load(&fails)) TH_LOG("%s", failmsg);	\
} while (0)

/* ---- files: openat, pwrite, writev, fsync, pread, readv, read, close -- */

static char tmpdir[64];

static void files_g(void *arg)
{
	char path[128], a[4096], b[4096];
	struct iovec iov[2];
	int fd;

	(void)arg;
	snprintf(path, sizeof(path), "%s/f", tmpdir);
	for (int i = 0; i < 4096; i++)
		a[i] = (char)(i * 7 + 1);
	fd = sact_ring_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_TRUNC,
			      0600);
	G_CHECK(fd >= 0);
	if (fd < 0)
		return;
	G_CHECK(sact_ring_pwrite(fd, a, 4096, 0) == 4096);
	G_CHECK(sact_ring_pwrite(fd, a, 100, 4096) == 100);
	iov[0] = (struct iovec){ a, 10 };
	iov[1] = (struct iovec){ a + 10, 20 };
	G_CHECK(sact_ring_writev(fd, iov, 2, 4196) == 30);
	G_CHECK(sact_ring_fsync(fd) == 0);
	memset(b, 0, sizeof(b));
	G_CHECK(sact_ring_pread(fd, b, 4096, 0) == 4096);
	G_CHECK(memcmp(a, b, 4096) == 0);
	/* short read at the end of the file: exactly what is there */
	G_CHECK(sact_ring_pread(fd, b, 4096, 4096) == 130);
	G_CHECK(memcmp(b, a, 100) == 0 && memcmp(b + 100, a, 30) == 0);
	G_CHECK(sact_ring_pread(fd, b, 4096, 1 << 20) == 0);
	iov[0] = (struct iovec){ b, 1000 };
	iov[1] = (struct iovec){ b + 1000, 3000 };
	G_CHECK(sact_ring_readv(fd, iov, 2, 96) == 4000);
	G_CHECK(memcmp(b, a + 96, 4000) == 0);
	/* read/write at the file position */
	G_CHECK(lseek(fd, 0, SEEK_SET) == 0);
	G_CHECK(sact_ring_read(fd, b, 1000) == 1000);
	G_CHECK(sact_ring_read(fd, b + 1000, 1000) == 1000);
	G_CHECK(memcmp(a, b, 2000) == 0);
	G_CHECK(lseek(fd, 0, SEEK_CUR) == 2000);
	G_CHECK(sact_ring_write(fd, "xyz", 3) == 3);
	G_CHECK(sact_ring_pread(fd, b, 3, 2000) == 3 && !memcmp(b, "xyz", 3));
	G_CHECK(sact_ring_close(fd) == 0);
	G_CHECK(sact_ring_close(fd) == -EBADF);
	G_CHECK(sact_ring_pread(fd, b, 1, 0) == -EBADF);
	G_CHECK(sact_ring_openat(AT_FDCWD, "/nonexistent/x", O_RDONLY, 0) ==
		-ENOENT);
	unlink(path);
}

TEST_F(ring, files)
{
	int fds = count_fds();

	strcpy(tmpdir, "/tmp/sact-uring-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(tmpdir));
	RUN_OK(files_g, NULL);
	rmdir(tmpdir);
	EXPECT_EQ(fds, count_fds());
}

/* ---- pipes: many Gs, each byte exactly once --------------------------- */

#define PIPE_GS		64
#define PIPE_BYTES	4096

struct pipes {
	int fds[PIPE_GS][2];
	atomic_long got;
	atomic_int done;
};

struct pipe_arg {
	struct pipes *ps;
	int i;
};

static struct pipe_arg pargs[PIPE_GS];

static void pipe_reader(void *arg)
{
	struct pipe_arg *pa = arg;
	char buf[512];
	long n = 0;

	while (n < PIPE_BYTES) {
		ssize_t r = sact_ring_read(pa->ps->fds[pa->i][0], buf,
					   sizeof(buf));

		G_CHECK(r > 0);
		if (r <= 0)
			break;
		for (ssize_t k = 0; k < r; k++)
			G_CHECK(buf[k] == (char)((n + k) * 31 + pa->i));
		n += r;
	}
	atomic_fetch_add(&pa->ps->got, n);
}

static void pipe_writer(void *arg)
{
	struct pipe_arg *pa = arg;
	char buf[PIPE_BYTES];
	long n = 0;

	for (int k = 0; k < PIPE_BYTES; k++)
		buf[k] = (char)(k * 31 + pa->i);
	while (n < PIPE_BYTES) {
		/* chunks of 100: the reader sees partial reads */
		size_t len = PIPE_BYTES - n < 100 ? PIPE_BYTES - n : 100;
		ssize_t w = sact_ring_write(pa->ps->fds[pa->i][1], buf + n,
					    len);

		G_CHECK(w > 0);
		if (w <= 0)
			break;
		n += w;
	}
}

static void pipes_g(void *arg)
{
	struct pipes *ps = arg;

	for (int i = 0; i < PIPE_GS; i++) {
		pargs[i] = (struct pipe_arg){ ps, i };
		G_CHECK(sact_go(pipe_reader, &pargs[i]) == 0);
	}
	for (int i = 0; i < PIPE_GS; i++)
		G_CHECK(sact_go(pipe_writer, &pargs[i]) == 0);
}

TEST_F(ring, pipes)
{
	static struct pipes ps;

	memset(&ps, 0, sizeof(ps));
	for (int i = 0; i < PIPE_GS; i++)
		ASSERT_EQ(0, pipe2(ps.fds[i], O_CLOEXEC));
	RUN_OK(pipes_g, &ps);
	EXPECT_EQ((long)PIPE_GS * PIPE_BYTES, atomic_load(&ps.got));
	for (int i = 0; i < PIPE_GS; i++) {
		close(ps.fds[i][0]);
		close(ps.fds[i][1]);
	}
}

/* ---- 10k reads in flight at once on one pipe (TSan: 1k) ---------------- */

/*
 * TSan: a fiber per G (at most 8128 threads and fibers in all), and 4k of
 * them took ~15 s on an idle machine, over the harness's old 30 s on a busy
 * one.  1k still needs several submits of the 256-entry SQ.
 */
#if defined(__SANITIZE_THREAD__)
#define MANY	1000
#else
#define MANY	10000
#endif

struct many {
	int fds[2];
	atomic_int entered;
	atomic_long got;
	atomic_int ones;
};

static void many_reader(void *arg)
{
	struct many *mn = arg;
	char c;
	ssize_t r;

	atomic_fetch_add(&mn->entered, 1);
	r = sact_ring_read(mn->fds[0], &c, 1);
	G_CHECK_EQ(1, r);
	if (r == 1) {
		atomic_fetch_add(&mn->got, r);
		atomic_fetch_add(&mn->ones, c == 'x');
	}
}

static void many_g(void *arg)
{
	static char buf[MANY];
	struct many *mn = arg;

	for (int i = 0; i < MANY; i++)
		G_CHECK(sact_go(many_reader, mn) == 0);
	/* every reader has called sact_ring_read: the pipe is empty, so
	 * all 10k reads are in flight; then one write serves them all */
	while (atomic_load(&mn->entered) < MANY)
		sact_ring_timeout(1000000);
	sact_ring_timeout(1000000);
	memset(buf, 'x', sizeof(buf));
	G_CHECK(sact_ring_write(mn->fds[1], buf, MANY) == MANY);
}

TEST_F(ring, many_in_flight)
{
	static struct many mn;

	memset(&mn, 0, sizeof(mn));
	ASSERT_EQ(0, pipe2(mn.fds, O_CLOEXEC));
	RUN_OK(many_g, &mn);
	EXPECT_EQ(MANY, atomic_load(&mn.got));
	EXPECT_EQ(MANY, atomic_load(&mn.ones));
	close(mn.fds[0]);
	close(mn.fds[1]);
}

/* ---- loopback TCP: accept, connect, send, recv, close ------------------ */

#define TCP_CONNS	8
#define TCP_BYTES	(256 * 1024)

struct tcp {
	int lfd;
	struct sockaddr_in addr;
	atomic_long sent, received;
	atomic_int accepted;
};

static void tcp_server_conn(void *arg)
{
	struct tcp *t = arg;
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	static char bufs[TCP_CONNS][16384];
	static atomic_int nbuf;
	char *buf = bufs[atomic_fetch_add(&nbuf, 1) % TCP_CONNS];
	long n = 0;
	int fd;

	fd = sact_ring_accept(t->lfd, (struct sockaddr *)&peer, &len);
	G_CHECK(fd >= 0);
	if (fd < 0)
		return;
	G_CHECK(len == sizeof(peer) && peer.sin_family == AF_INET);
	atomic_fetch_add(&t->accepted, 1);
	for (;;) {
		ssize_t r = sact_ring_recv(fd, buf, 16384, 0);

		G_CHECK(r >= 0);
		if (r <= 0)
			break;
		for (ssize_t k = 0; k < r; k++)
			G_CHECK(buf[k] == (char)(n + k));
		n += r;
	}
	G_CHECK(n == TCP_BYTES);
	/* reply with the count, then close */
	G_CHECK(sact_ring_send(fd, &n, sizeof(n), 0) == sizeof(n));
	G_CHECK(sact_ring_close(fd) == 0);
	atomic_fetch_add(&t->received, n);
}

static char tcp_pattern[TCP_BYTES];	/* written before the clients run */

static void tcp_client(void *arg)
{
	struct tcp *t = arg;
	const char *pattern = tcp_pattern;
	long n = 0, echo = 0;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	G_CHECK(fd >= 0);
	G_CHECK(sact_ring_connect(fd, (struct sockaddr *)&t->addr,
				  sizeof(t->addr)) == 0);
	while (n < TCP_BYTES) {
		ssize_t w = sact_ring_send(fd, pattern + n,
					   TCP_BYTES - n < 10000 ?
					   TCP_BYTES - n : 10000, 0);

		G_CHECK(w > 0);
		if (w <= 0)
			break;
		n += w;
	}
	atomic_fetch_add(&t->sent, n);
	G_CHECK(shutdown(fd, SHUT_WR) == 0);
	G_CHECK(sact_ring_recv(fd, &echo, sizeof(echo), MSG_WAITALL) ==
		sizeof(echo));
	G_CHECK(echo == TCP_BYTES);
	G_CHECK(sact_ring_recv(fd, &echo, sizeof(echo), 0) == 0);
	G_CHECK(sact_ring_close(fd) == 0);
}

static void tcp_g(void *arg)
{
	struct tcp *t = arg;

	for (int k = 0; k < TCP_BYTES; k++)
		tcp_pattern[k] = (char)k;
	for (int i = 0; i < TCP_CONNS; i++)
		G_CHECK(sact_go(tcp_server_conn, t) == 0);
	for (int i = 0; i < TCP_CONNS; i++)
		G_CHECK(sact_go(tcp_client, t) == 0);
}

TEST_F(ring, tcp_loopback)
{
	static struct tcp t;
	socklen_t len = sizeof(t.addr);
	int one = 1;
	int fds = count_fds();

	memset(&t, 0, sizeof(t));
	t.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, t.lfd);
	setsockopt(t.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	t.addr.sin_family = AF_INET;
	t.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(0, bind(t.lfd, (struct sockaddr *)&t.addr, len));
	ASSERT_EQ(0, getsockname(t.lfd, (struct sockaddr *)&t.addr, &len));
	ASSERT_EQ(0, listen(t.lfd, 64));
	RUN_OK(tcp_g, &t);
	EXPECT_EQ(TCP_CONNS, atomic_load(&t.accepted));
	EXPECT_EQ((long)TCP_CONNS * TCP_BYTES, atomic_load(&t.sent));
	EXPECT_EQ((long)TCP_CONNS * TCP_BYTES, atomic_load(&t.received));
	close(t.lfd);
	EXPECT_EQ(fds, count_fds());
}

/* ---- timeouts and cancellation ---------------------------------------- */

static void timeout_g(void *arg)
{
	int *fds = arg;
	char c = 0;

	/* a pure ring timeout */
	G_CHECK(sact_ring_timeout(1000000) == -ETIME);
	/* a read that nothing satisfies: cancelled by its linked timeout */
	sact_ring_settimeout(5 * 1000000);
	G_CHECK(sact_ring_read(fds[0], &c, 1) == -ECANCELED);
	/* the cancelled read took nothing: the byte goes to the next */
	G_CHECK(sact_ring_write(fds[1], "a", 1) == 1);
	sact_ring_settimeout(60ULL * 1000000000);	/* never fires */
	G_CHECK(sact_ring_read(fds[0], &c, 1) == 1 && c == 'a');
	/* the limit applied to one call only */
	G_CHECK(sact_ring_write(fds[1], "b", 1) == 1);
	G_CHECK(sact_ring_read(fds[0], &c, 1) == 1 && c == 'b');
	/* accept on a socket nobody connects to, cancelled */
	{
		int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = { .sin_family = AF_INET };

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		G_CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
		G_CHECK(listen(l, 1) == 0);
		sact_ring_settimeout(2 * 1000000);
		G_CHECK(sact_ring_accept(l, NULL, NULL) == -ECANCELED);
		close(l);
	}
}

TEST_F(ring, timeout_cancel)
{
	int fds[2];

	ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
	RUN_OK(timeout_g, fds);
	close(fds[0]);
	close(fds[1]);
}

/*
 * sact_ring_cancel_fd: readers parked on the rings of both Ps (they are
 * stolen across Ps as they start), each cancelled by fd from one G:
 * exactly one request per fd, and each reader gets -ECANCELED.
 */
#define XCANCEL_GS	32

struct xcancel {
	int fds[XCANCEL_GS][2];
	atomic_int cancelled;
};

static struct xcancel xc;

static void xcancel_reader(void *arg)
{
	long i = (long)arg;
	char c;
	ssize_t r;

	r = sact_ring_read(xc.fds[i][0], &c, 1);
	G_CHECK(r == -ECANCELED);
	if (r == -ECANCELED)
		atomic_fetch_add(&xc.cancelled, 1);
}

static void xcancel_g(void *arg)
{
	(void)arg;
	G_CHECK(sact_ring_cancel_fd(xc.fds[0][0]) == 0);	/* nothing yet */
	for (long i = 0; i < XCANCEL_GS; i++)
		G_CHECK(sact_go(xcancel_reader, (void *)i) == 0);
	/* a reader that has not submitted yet: 0 cancelled, try again */
	for (int i = 0; i < XCANCEL_GS; i++) {
		int r;

		while ((r = sact_ring_cancel_fd(xc.fds[i][0])) == 0)
			sact_ring_timeout(1000000);
		G_CHECK(r == 1);
	}
	G_CHECK(sact_ring_cancel_fd(-1) == -EBADF);
}

TEST_F(ring, cancel_fd_across_rings)
{
	memset(&xc, 0, sizeof(xc));
	for (int i = 0; i < XCANCEL_GS; i++)
		ASSERT_EQ(0, pipe2(xc.fds[i], O_CLOEXEC));
	RUN_OK(xcancel_g, NULL);
	EXPECT_EQ(XCANCEL_GS, atomic_load(&xc.cancelled));
	for (int i = 0; i < XCANCEL_GS; i++) {
		close(xc.fds[i][0]);
		close(xc.fds[i][1]);
	}
	EXPECT_EQ(-EPERM, sact_ring_cancel_fd(0));
}

/*
 * Many Gs whose reads are cancelled by timeouts while other Gs' reads
 * complete, then sact_run returns with the linked timeouts of completed
 * reads still pending in the kernel: rings and fds go, nothing leaks,
 * and a second run starts clean.
 */
#define CANCEL_GS	200

static int cancel_fds[2];
static atomic_int cancelled, completed;

static void cancel_reader(void *arg)
{
	long i = (long)arg;
	char c;
	ssize_t r;

	sact_ring_settimeout(i % 2 ? 3 * 1000000 : 30ULL * 1000000000);
	r = sact_ring_read(cancel_fds[0], &c, 1);
	if (r == -ECANCELED)
		atomic_fetch_add(&cancelled, 1);
	else if (r == 1)
		atomic_fetch_add(&completed, 1);
	else
		G_CHECK(!"unexpected result");
}

static void cancel_g(void *arg)
{
	static char buf[CANCEL_GS];

	(void)arg;
	for (long i = 0; i < CANCEL_GS; i++)
		G_CHECK(sact_go(cancel_reader, (void *)i) == 0);
	/* the short timeouts (odd Gs) fire long before the 30 s ones */
	while (atomic_load(&cancelled) < CANCEL_GS / 2)
		sact_ring_timeout(1000000);
	memset(buf, 'c', sizeof(buf));
	G_CHECK(sact_ring_write(cancel_fds[1], buf, CANCEL_GS / 2) ==
		CANCEL_GS / 2);
}

TEST_F(ring, return_with_requests_in_flight)
{
	int fds = count_fds();

	for (int round = 0; round < 3; round++) {
		atomic_store(&cancelled, 0);
		atomic_store(&completed, 0);
		ASSERT_EQ(0, pipe2(cancel_fds, O_CLOEXEC));
		RUN_OK(cancel_g, NULL);
		EXPECT_EQ(CANCEL_GS / 2, atomic_load(&cancelled));
		EXPECT_EQ(CANCEL_GS / 2, atomic_load(&completed));
		close(cancel_fds[0]);
		close(cancel_fds[1]);
		EXPECT_EQ(fds, count_fds());
	}
}

/* ---- a G resumed on another M than the one that submitted -------------- */

struct migrate {
	int a[2], b[2];
	pid_t tid_before, tid_after;
	atomic_int parked;
};

static void migrate_blocker(void *arg)
{
	struct migrate *mg = arg;
	char c;

	/* blocks its M in the kernel: sysmon hands the P to a standby M,
	 * which then reaps the ring the parked G is waiting on */
	while (!atomic_load(&mg->parked))
		sact_yield();
	G_CHECK(sact_read(mg->b[0], &c, 1) == 1);
}

static void *migrate_writer(void *arg)
{
	struct migrate *mg = arg;

	usleep(50000);
	if (write(mg->a[1], "m", 1) != 1)
		abort();
	return NULL;
}

static void migrate_g(void *arg)
{
	struct migrate *mg = arg;
	pthread_t t;
	char c;

	G_CHECK(sact_go(migrate_blocker, mg) == 0);
	mg->tid_before = gettid();
	atomic_store(&mg->parked, 1);
	G_CHECK(pthread_create(&t, NULL, migrate_writer, mg) == 0);
	G_CHECK(sact_ring_read(mg->a[0], &c, 1) == 1);
	mg->tid_after = gettid();
	G_CHECK(sact_ring_write(mg->b[1], "x", 1) == 1);
	pthread_join(t, NULL);
}

TEST_F(ring, resumed_on_another_m)
{
	static struct migrate mg;

	memset(&mg, 0, sizeof(mg));
	ASSERT_EQ(0, pipe2(mg.a, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(mg.b, O_CLOEXEC));
	RUN_OK(migrate_g, &mg);
	/*
	 * nprocs 1: the blocker ran on the only P's M and blocked there
	 * (yield until parked made it run after the read was submitted), so
	 * the read's G came back on the standby.  nprocs 2: the blocker may
	 * have run on the other P: then the same M may resume it.
	 */
	if (variant->nprocs == 1)
		EXPECT_NE(mg.tid_before, mg.tid_after);
	close(mg.a[0]);
	close(mg.a[1]);
	close(mg.b[0]);
	close(mg.b[1]);
}

/* ---- ring ops outlive the M that submitted them idle ------------------ */

/*
 * The kernel ties a request to the thread that submitted it: once that
 * thread has exited, a poll-armed read ends -ECANCELED when its data
 * comes.  Here the only M (M1) submits KEPT reads of an empty pipe, then
 * blocks in a wrapped read; sysmon hands the P to a new M (M2), which
 * runs the waker, and the waker holds the P until the main G runs on M2.
 * M1 is then a surplus M (standby 0: one M is kept) idle past
 * thread_idle_ms (1 ms) with its reads in flight: it must stay until they
 * are done, and retire after.  Run at one P only: with two, the P may
 * come back to M1, which then never idles.
 */
#define KEPT	64

struct kept {
	int rd[2], blk[2];
	pid_t tid1;
	atomic_int entered, ones, done, moved;
};

static void kept_reader(void *arg)
{
	struct kept *k = arg;
	ssize_t r;
	char c = 0;

	atomic_fetch_add(&k->entered, 1);
	r = sact_ring_read(k->rd[0], &c, 1);
	G_CHECK_EQ(1, r);
	atomic_fetch_add(&k->ones, r == 1 && c == 'k');
	atomic_fetch_add(&k->done, 1);
}

static void kept_waker(void *arg)
{
	struct kept *k = arg;

	/* on M1 only while the main G has not blocked yet */
	while (gettid() == k->tid1)
		sact_yield();
	/* a plain write: a ring op would park the waker and idle the P,
	 * and M1 would take it back */
	G_CHECK_EQ(1, write(k->blk[1], "w", 1));
	while (!atomic_load(&k->moved))
		sact_yield();	/* M2 keeps the P: M1 finds none */
}

static void kept_g(void *arg)
{
	static char buf[KEPT];
	struct kept *k = arg;
	struct sact_stats st = { .size = sizeof(st) };
	char path[64], c;

	for (int i = 0; i < KEPT; i++)
		G_CHECK(sact_go(kept_reader, k) == 0);
	while (atomic_load(&k->entered) < KEPT)
		sact_yield();
	sact_yield();		/* the last reader's read is submitted */
	k->tid1 = gettid();
	G_CHECK(sact_go(kept_waker, k) == 0);
	G_CHECK_EQ(1, sact_read(k->blk[0], &c, 1));
	atomic_store(&k->moved, 1);
	G_CHECK(gettid() != k->tid1);
	/* M1 idles as a surplus M: 100 deadlines pass, and it is still here */
	G_CHECK_EQ(-ETIME, sact_ring_timeout(100 * 1000000));
	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)k->tid1);
	G_CHECK_EQ(0, access(path, F_OK));
	memset(buf, 'k', sizeof(buf));
	G_CHECK_EQ(KEPT, sact_ring_write(k->rd[1], buf, KEPT));
	while (atomic_load(&k->done) < KEPT)
		sact_yield();
	/* its reads are done: a surplus M retires now */
	do {
		G_CHECK_EQ(-ETIME, sact_ring_timeout(1000000));
		G_CHECK_EQ(0, sact_stats(&st));
	} while (st.ms_retired == 0);
}

TEST(ops_outlive_an_idle_submitter)
{
	static struct kept k;
	struct sact_config c;

	if (sact_ring_available() < 0)
		SKIP(return, "io_uring unavailable: %s",
		     strerror(-sact_ring_available()));
	memset(&k, 0, sizeof(k));
	ASSERT_EQ(0, pipe2(k.rd, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(k.blk, O_CLOEXEC));
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.nprocs = 1;
	c.standby = 0;
	c.thread_idle_ms = 1;
	c.backend = SACT_BACKEND_SYSMON;
	atomic_store(&fails, 0);
	ASSERT_EQ(0, sact_run(&c, kept_g, &k));
	EXPECT_EQ(0, atomic_load(&fails)) TH_LOG("%s", failmsg);
	EXPECT_EQ(KEPT, atomic_load(&k.ones));
	for (int i = 0; i < 2; i++) {
		close(k.rd[i]);
		close(k.blk[i]);
	}
}

/* ---- a full SQ: a 2-entry SQ, a 4-entry CQ, refused submits ------------ */

/*
 * SACT_RING_ENTRIES=2 gives each P a 2-entry SQ and a 4-entry CQ;
 * SACT_RING_EAGAIN=4 lets only one submit in four through (the others
 * fail as the kernel's -EAGAIN would).  Thousands of Gs then put reads
 * (half of them with a linked timeout: two SQEs) on rings whose SQ is
 * full most of the time and whose CQ overflows into the kernel's
 * backlog: every op must complete exactly once, with the right byte,
 * and none may be dropped (a dropped op leaves its G parked: the run
 * never ends).  Refused SQEs of an idle P are retried by its poller.
 */
#define FULL_GS		3000

struct full {
	int in[2], out[2];
	atomic_int entered, got;
	atomic_long sum;
};

static void full_reader(void *arg)
{
	struct full *f = arg;
	int me = atomic_fetch_add(&f->entered, 1);
	char c;

	if (me % 2)
		sact_ring_settimeout(600ULL * 1000000000);	/* never fires */
	G_CHECK(sact_ring_read(f->in[0], &c, 1) == 1);
	atomic_fetch_add(&f->sum, c);
	G_CHECK(sact_ring_write(f->out[1], &c, 1) == 1);
}

static void full_g(void *arg)
{
	static char buf[FULL_GS];
	struct full *f = arg;
	long back = 0;

	for (int i = 0; i < FULL_GS; i++)
		G_CHECK(sact_go(full_reader, f) == 0);
	while (atomic_load(&f->entered) < FULL_GS)
		sact_ring_timeout(1000000);
	for (int i = 0; i < FULL_GS; i++)
		buf[i] = (char)(1 + i % 100);
	G_CHECK(sact_ring_write(f->in[1], buf, FULL_GS) == FULL_GS);
	while (back < FULL_GS) {
		ssize_t r = sact_ring_read(f->out[0], buf, sizeof(buf));

		G_CHECK(r > 0);
		if (r <= 0)
			break;
		back += r;
	}
	atomic_store(&f->got, back);
}

TEST_F(ring, full_sq)
{
	static struct full f;
	long sum = 0;

	for (int i = 0; i < FULL_GS; i++)
		sum += 1 + i % 100;
	memset(&f, 0, sizeof(f));
	ASSERT_EQ(0, pipe2(f.in, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(f.out, O_CLOEXEC));
	setenv("SACT_RING_ENTRIES", "2", 1);
	setenv("SACT_RING_EAGAIN", "4", 1);
	RUN_OK(full_g, &f);
	unsetenv("SACT_RING_ENTRIES");
	unsetenv("SACT_RING_EAGAIN");
	EXPECT_EQ(FULL_GS, atomic_load(&f.got));
	EXPECT_EQ(sum, atomic_load(&f.sum));
	close(f.in[0]);
	close(f.in[1]);
	close(f.out[0]);
	close(f.out[1]);
}

/* ---- batched submits ------------------------------------------------ */

/*
 * The Gs of a P queue their ops and the P submits them in batches, once
 * they have all had their turn (uring.c, design note 6).  One P, 64 Gs
 * each reading a byte already in its own pipe: each io_uring_enter hands
 * over many ops.  With two Ps the Gs spread as the scheduler likes: only
 * the bytes and the count of ops are checked there.
 */
#define BS_GS	64

static int bs_fds[BS_GS][2];
static struct sact_waitgroup bs_wg = SACT_WAITGROUP_INIT;

static void bs_reader(void *arg)
{
	long i = (long)arg;
	char c = 0;

	G_CHECK_EQ(1, sact_ring_read(bs_fds[i][0], &c, 1));
	G_CHECK_EQ('a' + i % 26, c);
	sact_wg_done(&bs_wg);
}

static void bs_g(void *arg)
{
	struct sact_stats *st = arg;

	sact_wg_add(&bs_wg, BS_GS);
	for (long i = 0; i < BS_GS; i++)
		G_CHECK_EQ(0, sact_go(bs_reader, (void *)i));
	sact_wg_wait(&bs_wg);
	G_CHECK_EQ(0, sact_stats(st));
}

TEST_F(ring, submits_in_batches)
{
	struct sact_stats st = { .size = sizeof(st) };

	for (int i = 0; i < BS_GS; i++) {
		char c = (char)('a' + i % 26);

		ASSERT_EQ(0, pipe2(bs_fds[i], O_CLOEXEC));
		ASSERT_EQ(1, write(bs_fds[i][1], &c, 1));
	}
	RUN_OK(bs_g, &st);
	for (int i = 0; i < BS_GS; i++) {
		close(bs_fds[i][0]);
		close(bs_fds[i][1]);
	}
	EXPECT_EQ(BS_GS, st.ring_ops);
	if (variant->nprocs == 1)
		EXPECT_LE(st.ring_submits * 8, st.ring_ops)
			TH_LOG("%llu submits for %llu ops",
			       (unsigned long long)st.ring_submits,
			       (unsigned long long)st.ring_ops);
}

/*
 * ...but Gs that keep their P busy do not hold a queued op back: the
 * oldest waits at most 32 schedules of its P.  Two Gs yield to each
 * other (so the P's queue never runs dry) until a third, whose read has
 * its byte ready, got it; without that bound the read is never
 * submitted and the yielders give up after a million yields each.
 */
static atomic_int hb_done;

static void hb_reader(void *arg)
{
	int *fds = arg;
	char c = 0;

	G_CHECK_EQ(1, sact_ring_read(fds[0], &c, 1));
	G_CHECK_EQ('h', c);
	atomic_store(&hb_done, 1);
}

static void hb_yielder(void *arg)
{
	(void)arg;
	for (long n = 0; !atomic_load(&hb_done) && n < 1000000; n++)
		sact_yield();
}

static void hb_g(void *arg)
{
	G_CHECK_EQ(0, sact_go(hb_reader, arg));
	G_CHECK_EQ(0, sact_go(hb_yielder, NULL));
	hb_yielder(NULL);
	G_CHECK_EQ(1, atomic_load(&hb_done));
}

TEST_F(ring, busy_gs_do_not_hold_back_a_submit)
{
	int fds[2];

	ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
	ASSERT_EQ(1, write(fds[1], "h", 1));
	atomic_store(&hb_done, 0);
	RUN_OK(hb_g, fds);
	close(fds[0]);
	close(fds[1]);
}

/* ---- the wake of an M waiting for an idle P's completions ------------- */

/*
 * A P goes idle with a ring read in flight, so an M (the poller) waits
 * for its completions.  A G's M comes back from a blocking sact_read
 * whose P sysmon took away, takes that idle P (exitsyscall_slow), wakes
 * the poller and reaps the P's CQ at once, between Gs.  The poller must
 * notice either way: it did not when it waited in io_uring_wait_cqe,
 * whose loop slept again once the CQE that woke it had been reaped by
 * the new owner; that M then waited for ever and sact_run hung in
 * teardown (a timeout of this test; seen within a few rounds natively
 * and in the 6.1 guest).  No runtime timer is armed here, so no timeout
 * of the wait could hide it.  Each round also checks every byte.  On one P
 * every blocking read waits for sysmon to take its P: in a guest, a
 * debug kernel's above all, 100 rounds outlast the harness's timeout, so
 * the guest runs a tenth of them (ST_SCALE).
 */
#define LW_PAIRS	4
#define LW_ITER		100
#define LW_ROUNDS	ST_SCALE(100)

static int lw_a[LW_PAIRS][2], lw_b[LW_PAIRS][2];
static atomic_long lw_got;

static void lw_blocker(void *arg)
{
	long i = (long)arg;
	char c;

	for (int k = 0; k < LW_ITER; k++) {
		G_CHECK(sact_read(lw_a[i][0], &c, 1) == 1);
		G_CHECK(sact_ring_write(lw_b[i][1], &c, 1) == 1);
	}
}

static void lw_ringer(void *arg)
{
	long i = (long)arg;
	char c;

	for (int k = 0; k < LW_ITER; k++) {
		G_CHECK(sact_ring_read(lw_b[i][0], &c, 1) == 1);
		G_CHECK(c == (char)('a' + (k + i) % 26));
		atomic_fetch_add(&lw_got, 1);
	}
}

/* outside the runtime: unblocks the blockers one byte at a time */
static void *lw_feeder(void *arg)
{
	(void)arg;
	for (int k = 0; k < LW_ITER; k++)
		for (int i = 0; i < LW_PAIRS; i++) {
			char c = (char)('a' + (k + i) % 26);

			if (write(lw_a[i][1], &c, 1) != 1)
				abort();
			if ((k + i) % 7 == 0)
				usleep(50);	/* let some Ps go idle */
		}
	return NULL;
}

static void lw_g(void *arg)
{
	(void)arg;
	for (long i = 0; i < LW_PAIRS; i++) {
		G_CHECK(sact_go(lw_blocker, (void *)i) == 0);
		G_CHECK(sact_go(lw_ringer, (void *)i) == 0);
	}
}

TEST_F(ring, idle_p_taken_from_poller)
{
	for (int round = 0; round < LW_ROUNDS; round++) {
		pthread_t t;

		for (int i = 0; i < LW_PAIRS; i++) {
			ASSERT_EQ(0, pipe2(lw_a[i], O_CLOEXEC));
			ASSERT_EQ(0, pipe2(lw_b[i], O_CLOEXEC));
		}
		atomic_store(&lw_got, 0);
		ASSERT_EQ(0, pthread_create(&t, NULL, lw_feeder, NULL));
		RUN_OK(lw_g, NULL);
		pthread_join(t, NULL);
		ASSERT_EQ((long)LW_PAIRS * LW_ITER, atomic_load(&lw_got))
			TH_LOG("round %d", round);
		for (int i = 0; i < LW_PAIRS; i++) {
			close(lw_a[i][0]);
			close(lw_a[i][1]);
			close(lw_b[i][0]);
			close(lw_b[i][1]);
		}
	}
}

/* ---- io_uring disabled (seccomp: io_uring_setup fails with ENOSYS) ----- */

static void disabled_g(void *arg)
{
	int *fds = arg;
	char c;

	G_CHECK(sact_ring_available() == -ENOSYS);
	G_CHECK(sact_ring_read(fds[0], &c, 1) == -ENOSYS);
	G_CHECK(sact_ring_timeout(1000) == -ENOSYS);
	G_CHECK(sact_write(fds[1], "d", 1) == 1);
	G_CHECK(sact_read(fds[0], &c, 1) == 1 && c == 'd');
}

TEST_F(ring, disabled)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };
	int fds[2];

	/* the harness runs each test in its own child: the filter stays there */
	ASSERT_EQ(0, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_EQ(0, prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
	ASSERT_EQ(-ENOSYS, sact_ring_available());
	ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
	RUN_OK(disabled_g, fds);
	/* outside a G: -EPERM, whatever the ring */
	EXPECT_EQ(-EPERM, sact_ring_read(fds[0], NULL, 0));
}

TEST(outside_a_g)
{
	char c;

	EXPECT_EQ(-EPERM, sact_ring_read(0, &c, 1));
	EXPECT_EQ(-EPERM, sact_ring_timeout(1));
}

TEST_HARNESS_MAIN
