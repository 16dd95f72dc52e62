// SPDX-License-Identifier: GPL-2.0
/*
 * httpd.c - the httpd demo (userspace/demos/httpd.c) as a web server,
 * from a loopback client, in each I/O mode:
 *   - 1000 requests on 10 keep-alive connections (some pipelined, some
 *     with a body; in block mode 2 at a time, 1 in the VM: see the
 *     variants), each answer byte for byte what Go's ex1 sends (the
 *     Date's value aside: only its form is checked);
 *   - each class of malformed request gets Go's refusal, byte for byte,
 *     and the connection closed;
 *   - 300 requests with bytes mutated at random (a fixed seed) get either
 *     a well-formed answer or none, and the server lives on;
 *   - SIGTERM: exit status 0, and the count of answers it says it gave
 *     is the count the client read.
 * And in ring mode, with the default backend: 2000 keep-alive connections
 * held open at once, each answered once after all are open and once more
 * after all were answered; SIGTERM then reaches every one of them.
 * The ring and block modes run with the default backend (bpf natively as
 * root, else sysmon; kmod in the VM) and natively with sysmon too; the
 * thread mode (no runtime) natively.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "sact_test.h"

#define NCONN		10
#define PER_CONN	100
#define NFUZZ		300
#define HANG_GUARD_S	60	/* a socket read that waits longer: a hang */
#define NHOLD		2000	/* connections held open at once */

/* Paths and the greeting Go's ex1 (with -all) answers them with. */
static const struct {
	const char *path, *body;
} greetings[] = {
	{ "/bar", "Hello, \"/bar\"" },
	{ "/", "Hello, \"/\"" },
	{ "/caf%C3%A9?q=1", "Hello, \"/caf\xc3\xa9\"" },
	{ "/%09%0a%7f", "Hello, \"/\\t\\n\\x7f\"" },
	{ "/a%22b%3Cc%3E%26'%01%5C%C3%A9%C2%80%FF?x=1",
	  "Hello, \"/a&#34;b&lt;c&gt;&amp;&#39;\\x01\\\\\xc3\xa9\\u0080\\xff\"" },
	{ "/%E2%82%AC%C2%AD%ED%A0%80",
	  "Hello, \"/\xe2\x82\xac\\u00ad\\xed\\xa0\\x80\"" },
};
#define NGREET (int)(sizeof(greetings) / sizeof(greetings[0]))

#define ERR_HEADERS "\r\nContent-Type: text/plain; charset=utf-8\r\n" \
		    "Connection: close\r\n\r\n"
#define REFUSAL(s)	"HTTP/1.1 " s ERR_HEADERS s
#define R400		REFUSAL("400 Bad Request")

/* Each class of malformed request, and Go's answer to it. */
#define NUL_REQ "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n"

static const struct {
	const char *name, *req, *answer;
	size_t len;		/* of req; 0: strlen(req) */
} malformed[] = {
	{ "no version", "GET /bar\r\n\r\n", R400, 0 },
	{ "two spaces", "GET  /bar HTTP/1.1\r\nHost: x\r\n\r\n", R400, 0 },
	{ "bad method", "G(T /bar HTTP/1.1\r\nHost: x\r\n\r\n", R400, 0 },
	{ "not a path", "GET bar HTTP/1.1\r\nHost: x\r\n\r\n", R400, 0 },
	{ "control byte in path", "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
	  R400, 0 },
	{ "bad escape", "GET /b%zz HTTP/1.1\r\nHost: x\r\n\r\n", R400, 0 },
	{ "bad version", "GET /bar FOO/1.1\r\nHost: x\r\n\r\n", R400, 0 },
	{ "no Host", "GET /bar HTTP/1.1\r\n\r\n",
	  REFUSAL("400 Bad Request: missing required Host header"), 0 },
	{ "two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", R400, 0 },
	{ "no colon", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
	  R400, 0 },
	{ "bad name", "GET / HTTP/1.1\r\nHost: x\r\nNa me: v\r\n\r\n",
	  REFUSAL("400 Bad Request: invalid header name"), 0 },
	{ "bad value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n",
	  REFUSAL("400 Bad Request: invalid header value"), 0 },
	{ "bad length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n"
	  "\r\n", R400, 0 },
	{ "NUL byte", NUL_REQ, R400, sizeof(NUL_REQ) - 1 },
	{ "version 2", "GET /bar HTTP/2.0\r\nHost: x\r\n\r\n",
	  REFUSAL("505 HTTP Version Not Supported: unsupported protocol "
		  "version"), 0 },
	{ "chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
	  "chunked\r\n\r\n0\r\n\r\n", REFUSAL("501 Not Implemented"), 0 },
	{ "oversize head", NULL,
	  REFUSAL("431 Request Header Fields Too Large"), 0 },
};
#define NMAL (int)(sizeof(malformed) / sizeof(malformed[0]))

static void httpd_path(char *path, size_t size)
{
	char self[4000];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	self[n > 0 ? n : 0] = 0;
	slash = strrchr(self, '/');
	if (n <= 0 || !slash) {
		snprintf(path, size, "build/demos/httpd");
		return;
	}
	*slash = 0;
	snprintf(path, size, "%s/../../demos/httpd", self);
}

static int connect_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { HANG_GUARD_S, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes: 0, or -1 (EOF, error, or the hang guard). */
static int recv_exact(int fd, char *buf, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, buf, len, 0);

		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until EOF into buf (at most size - 1 bytes kept, NUL added): the
 * length read, or -1 on an error or the hang guard.  A reset after the
 * answer counts as EOF. */
static ssize_t recv_to_eof(int fd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		char sink[4096];
		ssize_t n = recv(fd, len < size - 1 ? buf + len : sink,
				 len < size - 1 ? size - 1 - len : sizeof(sink), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		if (n < 0)
			return -1;
		len += len < size - 1 ? (size_t)n : 0;
	}
	buf[len] = 0;
	return (ssize_t)len;
}

/* The answer to a GET whose greeting is body, without its Date value
 * ("D" x 29). */
static int expected(const char *body, char *buf, size_t size)
{
	return snprintf(buf, size, "HTTP/1.1 200 OK\r\nDate: %.29s\r\n"
			"Content-Length: %zu\r\nContent-Type: text/plain; "
			"charset=utf-8\r\n\r\n%s", "DDDDDDDDDDDDDDDDDDDDDDDDDDDDD",
			strlen(body), body);
}

/* Is d (29 bytes) an HTTP date, "Mon, 02 Jan 2006 15:04:05 GMT"? */
static bool is_date(const char *d)
{
	int day, year, h, m, s;
	char wd[4], mon[4];

	return sscanf(d, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT",
		      wd, &day, mon, &year, &h, &m, &s) == 7 &&
	       !memcmp(d + 25, " GMT", 4) && d[3] == ',';
}

/* Read the answer to a GET whose greeting is body from fd: byte-exact
 * but for the Date's value, which must be a date. */
static void check_answer(struct __test_metadata *_metadata, int fd,
			 const char *body, int conn, int req)
{
	char want[512], got[512];
	int wl = expected(body, want, sizeof(want));

	ASSERT_EQ(0, recv_exact(fd, got, (size_t)wl))
		TH_LOG("connection %d, request %d: short answer", conn, req);
	got[wl] = 0;
	ASSERT_TRUE(is_date(got + 23)) TH_LOG("%s", got);
	memset(got + 23, 'D', 29);
	ASSERT_STREQ(want, got) TH_LOG("connection %d, request %d", conn, req);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Count "200 OK\r\n" in s: the answers in a fuzz case's reply. */
static int count_ok(const char *s)
{
	int n = 0;

	while ((s = strstr(s, " 200 OK\r\n"))) {
		n++;
		s++;
	}
	return n;
}

FIXTURE(httpd) {
	pid_t pid;
	int out;		/* httpd's stdout */
	int port;
	long answered;		/* 200s the client read */
};

/*
 * conns: keep-alive connections open at once (vm_conns: in the VM).  In
 * block mode each idle one holds an M in recv: the Ms grow with them
 * (one per connection, as with Go's netpoller one goroutine), and the
 * client sends a connection's next request only after another one's
 * answer, so with a fixed pool of Ms this would stall.
 */
FIXTURE_VARIANT(httpd) {
	const char *io;
	const char *backend;
	bool native_only;
	int conns;
	int vm_conns;
};
FIXTURE_VARIANT_ADD(httpd, ring) { "ring", "auto", false, NCONN, NCONN };
FIXTURE_VARIANT_ADD(httpd, block) { "block", "auto", false, NCONN, NCONN };
FIXTURE_VARIANT_ADD(httpd, ring_sysmon) { "ring", "sysmon", true, NCONN, 0 };
FIXTURE_VARIANT_ADD(httpd, block_sysmon) { "block", "sysmon", true, NCONN, 0 };
FIXTURE_VARIANT_ADD(httpd, thread) { "thread", "auto", true, NCONN, 0 };

/* Read httpd's stdout until a line starting with prefix; it in line. */
static int read_line(int fd, const char *prefix, char *line, size_t size)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *nl;
		ssize_t n;

		if (poll(&p, 1, HANG_GUARD_S * 1000) != 1)
			return -1;
		n = read(fd, line + len, size - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		line[len] = 0;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			if (!strncmp(line, prefix, strlen(prefix)))
				return 0;
			len -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len + 1);
		}
		if (len == size - 1)
			return -1;
	}
}

/*
 * Start httpd --io io --backend backend on any free port, 2 Ps: its pid,
 * its stdout (read_line) and its port.
 */
/* If not 0: the RLIMIT_NOFILE soft limit httpd starts with (its stderr,
 * where it says what it retries, then goes to /dev/null) */
static rlim_t httpd_nofile;

static void start_httpd(struct __test_metadata *_metadata, const char *io,
			const char *backend, pid_t *pid, int *out, int *port)
{
	char path[4200], line[512];
	const char *colon;
	int pfd[2];

	httpd_path(path, sizeof(path));
	ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
	*pid = fork();
	ASSERT_LE(0, *pid);
	if (*pid == 0) {
		dup2(pfd[1], 1);
		if (httpd_nofile) {
			struct rlimit rl;
			int null = open("/dev/null", O_WRONLY);

			getrlimit(RLIMIT_NOFILE, &rl);
			rl.rlim_cur = httpd_nofile;
			if (setrlimit(RLIMIT_NOFILE, &rl) || null < 0 ||
			    dup2(null, 2) < 0)
				_exit(126);
		}
		execl(path, path, "--port", "0", "--procs", "2", "--io", io,
		      "--backend", backend, NULL);
		_exit(127);
	}
	close(pfd[1]);
	*out = pfd[0];
	ASSERT_EQ(0, read_line(*out, "httpd: listening on ", line,
			       sizeof(line))) TH_LOG("httpd did not start");
	TH_LOG("%s", line);
	colon = strrchr(line, ':');
	ASSERT_NE(NULL, colon);
	*port = atoi(colon + 1);
	ASSERT_LT(0, *port);
}

FIXTURE_SETUP(httpd)
{
	self->pid = -1;
	if (st_in_vm() && variant->native_only)
		return;		/* the test skips */
	start_httpd(_metadata, variant->io, variant->backend, &self->pid,
		    &self->out, &self->port);
}

FIXTURE_TEARDOWN(httpd)
{
	if (self->pid > 0) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, NULL, 0);
	}
}

/*
 * Serve PER_CONN requests on each of conns keep-alive connections at
 * once, round-robin: every 7th request goes with the next in one send
 * (pipelined), every 5th carries a body.  The answers must be
 * byte-exact.
 */
static void keepalive(struct __test_metadata *_metadata,
		      FIXTURE_DATA(httpd) *self, int conns)
{
	char req[512], got[1];
	int fd[NCONN], done[NCONN] = { 0 }, left = conns * PER_CONN;

	for (int c = 0; c < conns; c++) {
		fd[c] = connect_to(self->port);
		ASSERT_LE(0, fd[c]);
	}
	while (left) {
		for (int c = 0; c < conns; c++) {
			int i = done[c], n = 1, len = 0;

			if (i == PER_CONN)
				continue;
			if (i % 7 == 0 && i + 2 <= PER_CONN)
				n = 2;
			for (int k = i; k < i + n; k++)
				len += snprintf(req + len, sizeof(req) - len,
					k % 5 ? "GET %s HTTP/1.1\r\nHost: x\r\n\r\n" :
					"POST %s HTTP/1.1\r\nHost: x\r\n"
					"Content-Length: 5\r\n\r\nhello",
					greetings[(c + k) % NGREET].path);
			ASSERT_EQ(0, send_all(fd[c], req, (size_t)len));
			for (int k = i; k < i + n; k++) {
				check_answer(_metadata, fd[c],
					     greetings[(c + k) % NGREET].body, c, k);
				self->answered++;
			}
			done[c] += n;
			left -= n;
		}
	}
	for (int c = 0; c < conns; c++) {
		/* keep-alive: the server closes only when the client does */
		ASSERT_EQ(0, shutdown(fd[c], SHUT_WR));
		ASSERT_EQ(0, recv(fd[c], got, 1, 0));
		close(fd[c]);
	}
}

/* One request on a fresh connection; the whole reply until EOF. */
static ssize_t ask(int port, const char *req, size_t len, char *reply,
		   size_t size)
{
	int fd = connect_to(port);
	ssize_t n;

	if (fd < 0)
		return -1;
	/* the server may refuse and close before it read it all */
	send_all(fd, req, len);
	shutdown(fd, SHUT_WR);
	n = recv_to_eof(fd, reply, size);
	close(fd);
	return n;
}

TEST_F_TIMEOUT(httpd, serves, 600)
{
	static char reply[65536], big[8192];
	int status, refused[NMAL] = { 0 }, none = 0, ok_replies = 0;
	int statuses[600] = { 0 };
	uint64_t seed = 0x5ac7;
	char line[512];
	long said;
	int conns;

	if (st_in_vm() && variant->native_only)
		SKIP(return, "runs natively");
	/* 1000 requests: NCONN connections, conns at a time */
	conns = st_in_vm() ? variant->vm_conns : variant->conns;
	for (int c = 0; c < NCONN; c += conns)
		keepalive(_metadata, self, conns);
	ASSERT_EQ(NCONN * PER_CONN, self->answered);

	/* each malformed class: Go's refusal, byte for byte */
	for (int i = 0; i < NMAL; i++) {
		const char *req = malformed[i].req;
		size_t len;

		if (!req) {
			len = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1"
					       "\r\nHost: x\r\nX: %05000d\r\n\r\n", 0);
			req = big;
		} else {
			len = malformed[i].len ? malformed[i].len : strlen(req);
		}
		ASSERT_LE(0, ask(self->port, req, len, reply, sizeof(reply)));
		EXPECT_STREQ(malformed[i].answer, reply)
			TH_LOG("class '%s'", malformed[i].name);
		refused[i] = !strcmp(malformed[i].answer, reply);
	}
	for (int i = 0; i < NMAL; i++)
		EXPECT_EQ(1, refused[i]);

	/* garbage: mutated requests, a fixed seed */
	for (int i = 0; i < NFUZZ; i++) {
		char req[1024];
		int len = snprintf(req, sizeof(req), "%s %s HTTP/1.%d\r\nHost: "
				   "x\r\nContent-Length: %d\r\nConnection: %s"
				   "\r\n\r\n%.*s", i % 3 ? "GET" : "POST",
				   greetings[i % NGREET].path, i % 2, i % 4,
				   i % 2 ? "close" : "keep-alive", i % 4, "abcd");
		int muts = 1 + (int)(xorshift(&seed) % 4);
		ssize_t n;
		int code;

		for (int m = 0; m < muts && len > 1; m++) {
			int at = (int)(xorshift(&seed) % (uint64_t)len);
			static const char junk[] = " \r\n:%\0/?\"\\\x7f\x80\xff";

			switch (xorshift(&seed) % 4) {
			case 0:		/* a random byte */
				req[at] = (char)xorshift(&seed);
				break;
			case 1:		/* a special byte */
				req[at] = junk[xorshift(&seed) % (sizeof(junk) - 1)];
				break;
			case 2:		/* drop a byte */
				memmove(req + at, req + at + 1, (size_t)(len - at - 1));
				len--;
				break;
			default:	/* cut the request short */
				len = at;
			}
		}
		n = ask(self->port, req, (size_t)len, reply, sizeof(reply));
		ASSERT_LE(0, n) TH_LOG("fuzz case %d: no EOF", i);
		if (n == 0) {
			none++;		/* an incomplete head: closed silently */
			continue;
		}
		/* a well-formed status line with a known status */
		ASSERT_EQ(0, strncmp(reply, "HTTP/1.", 7)) TH_LOG("%s", reply);
		code = atoi(reply + 9);
		ASSERT_TRUE(code == 200 || code == 400 || code == 431 ||
			    code == 501 || code == 505) TH_LOG("%s", reply);
		statuses[code]++;
		ok_replies += count_ok(reply);
	}
	TH_LOG("fuzz: %d cases: %d x 200, %d x 400, %d x 431, %d x 501, "
	       "%d x 505, %d closed without an answer", NFUZZ, statuses[200],
	       statuses[400], statuses[431], statuses[501], statuses[505],
	       none);
	/* the seed makes some of each kind: a fuzz that only ever hit one
	 * branch would prove little */
	EXPECT_LE(1, statuses[200]);
	EXPECT_LE(1, statuses[400]);
	EXPECT_LE(1, none);
	self->answered += ok_replies;

	/* heads and answers beyond httpd's stack buffers (1 KiB each; the
	 * heap takes over), pipelined on one keep-alive connection */
	{
		static char req[16384], body[3][8192], want[8192], got[8192];
		int fd = connect_to(self->port), len = 0;
		char *b;

		ASSERT_LE(0, fd);
		len += snprintf(req + len, sizeof(req) - (size_t)len,
				"GET /big HTTP/1.1\r\nHost: x\r\nX: %03000d"
				"\r\n\r\n", 0);	/* a 3 KiB head */
		strcpy(body[0], "Hello, \"/big\"");
		for (int k = 1; k < 3; k++) {	/* 3.5, then 6.5 KiB */
			int quotes = k == 1 ? 700 : 1300;

			len += snprintf(req + len, sizeof(req) - (size_t)len,
					"GET /");
			b = stpcpy(body[k], "Hello, \"/");
			for (int q = 0; q < quotes; q++) {
				len += snprintf(req + len,
						sizeof(req) - (size_t)len,
						"%%22");
				b = stpcpy(b, "&#34;");
			}
			strcpy(b, "\"");
			len += snprintf(req + len, sizeof(req) - (size_t)len,
					" HTTP/1.1\r\nHost: x\r\n\r\n");
		}
		ASSERT_EQ(0, send_all(fd, req, (size_t)len));
		for (int k = 0; k < 3; k++) {
			int wl = expected(body[k], want, sizeof(want));

			ASSERT_LT(wl, (int)sizeof(want));
			ASSERT_EQ(0, recv_exact(fd, got, (size_t)wl))
				TH_LOG("large request %d: short answer", k);
			got[wl] = 0;
			ASSERT_TRUE(is_date(got + 23));
			memset(got + 23, 'D', 29);
			EXPECT_STREQ(want, got) TH_LOG("large request %d", k);
			self->answered++;
		}
		close(fd);
	}

	/* alive and well after it */
	snprintf(big, sizeof(big), "GET /bar HTTP/1.1\r\nHost: x\r\n"
		 "Connection: close\r\n\r\n");
	ASSERT_LT(0, ask(self->port, big, strlen(big), reply, sizeof(reply)));
	EXPECT_EQ(0, strncmp(reply, "HTTP/1.1 200 OK\r\n", 17));
	EXPECT_NE(NULL, strstr(reply, "\r\nConnection: close\r\n\r\n"
			       "Hello, \"/bar\""));
	self->answered++;

	/* SIGTERM: a clean exit, and the count it says is ours */
	ASSERT_EQ(0, kill(self->pid, SIGTERM));
	ASSERT_EQ(0, read_line(self->out, "httpd: stopped; ", line,
			       sizeof(line)));
	ASSERT_EQ(1, sscanf(line, "httpd: stopped; %ld requests", &said));
	EXPECT_EQ(self->answered, said);
	ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
	self->pid = -1;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * Many idle keep-alive connections: NHOLD open at once, in ring mode (a
 * G each, parked in its P's ring; in block mode each would hold an M),
 * the default backend.
 */
FIXTURE(hold) {
	pid_t pid;
	int out;
	int port;
	int *fd;
};

FIXTURE_SETUP(hold)
{
	self->pid = -1;
	self->fd = NULL;
}

FIXTURE_TEARDOWN(hold)
{
	if (self->pid > 0) {
		kill(self->pid, SIGKILL);
		waitpid(self->pid, NULL, 0);
	}
	for (int i = 0; self->fd && i < NHOLD; i++)
		if (self->fd[i] >= 0)
			close(self->fd[i]);
	free(self->fd);
}

/*
 * Open NHOLD connections, then one request on each (all sent before any
 * answer is read), then, with every one still open and answered, a
 * second request on each: every answer byte-exact.  SIGTERM then shuts
 * all of them (each reads EOF), and httpd says 2 x NHOLD requests on
 * NHOLD connections and exits 0.  Counts and bytes only: the times are
 * hang guards.
 */
TEST_F_TIMEOUT(hold, keepalive_2000, 600)
{
	struct rlimit rl;
	rlim_t need = NHOLD + 64;	/* ours, and httpd's (it inherits it) */
	long said_reqs, said_conns;
	char req[256], body[64], line[512];
	int status;

	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		SKIP(return, "RLIMIT_NOFILE's hard limit is %lu: %lu open "
		     "files needed for %d connections", (unsigned long)rl.rlim_max,
		     (unsigned long)need, NHOLD);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = need;
		ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	}
	start_httpd(_metadata, "ring", "auto", &self->pid, &self->out,
		    &self->port);
	self->fd = malloc(NHOLD * sizeof(*self->fd));
	ASSERT_NE(NULL, self->fd);
	for (int i = 0; i < NHOLD; i++)
		self->fd[i] = -1;
	for (int i = 0; i < NHOLD; i++) {
		self->fd[i] = connect_to(self->port);
		ASSERT_LE(0, self->fd[i]) TH_LOG("connection %d: %s", i,
						 strerror(errno));
	}

	/* 1: a request of its own on each (its path names it) */
	for (int i = 0; i < NHOLD; i++) {
		int len = snprintf(req, sizeof(req), "GET /hold/%d HTTP/1.1\r\n"
				   "Host: x\r\n\r\n", i);

		ASSERT_EQ(0, send_all(self->fd[i], req, (size_t)len))
			TH_LOG("connection %d", i);
	}
	for (int i = 0; i < NHOLD; i++) {
		snprintf(body, sizeof(body), "Hello, \"/hold/%d\"", i);
		check_answer(_metadata, self->fd[i], body, i, 0);
	}

	/* 2: all NHOLD still open; again on each, the escaping paths too */
	for (int i = 0; i < NHOLD; i++) {
		int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n"
				   "Host: x\r\n\r\n", greetings[i % NGREET].path);

		ASSERT_EQ(0, send_all(self->fd[i], req, (size_t)len))
			TH_LOG("connection %d", i);
	}
	for (int i = 0; i < NHOLD; i++)
		check_answer(_metadata, self->fd[i],
			     greetings[i % NGREET].body, i, 1);

	/* SIGTERM: every held connection is shut, and the counts are ours */
	ASSERT_EQ(0, kill(self->pid, SIGTERM));
	for (int i = 0; i < NHOLD; i++) {
		ASSERT_EQ(0, recv(self->fd[i], req, 1, 0))
			TH_LOG("connection %d: no EOF after SIGTERM", i);
	}
	ASSERT_EQ(0, read_line(self->out, "httpd: stopped; ", line,
			       sizeof(line)));
	ASSERT_EQ(2, sscanf(line, "httpd: stopped; %ld requests answered on "
			    "%ld connections", &said_reqs, &said_conns))
		TH_LOG("%s", line);
	EXPECT_EQ(2 * NHOLD, said_reqs);
	EXPECT_EQ(NHOLD, said_conns);
	ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
	self->pid = -1;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * Out of descriptors: httpd may open only NOFILE_LIMIT files and NOFILE_
 * CONNS connections wait, each with a request sent.  Accept fails with
 * EMFILE; httpd must wait and retry (as net/http does), not stop: the
 * client closes every connection it had its answer on, which frees the
 * server's descriptors, until all NOFILE_CONNS are answered byte-exact.
 * Then SIGTERM: httpd counts them all and exits 0.
 */
#define NOFILE_LIMIT	64
#define NOFILE_CONNS	200

TEST_F_TIMEOUT(hold, out_of_descriptors, 600)
{
	char req[] = "GET /bar HTTP/1.1\r\nHost: x\r\n\r\n", line[512];
	struct pollfd pfd[NOFILE_CONNS];
	long said_reqs, said_conns;
	int answered = 0, status;

	httpd_nofile = NOFILE_LIMIT;
	start_httpd(_metadata, "ring", "auto", &self->pid, &self->out,
		    &self->port);
	httpd_nofile = 0;
	for (int i = 0; i < NOFILE_CONNS; i++) {
		pfd[i].fd = connect_to(self->port);
		pfd[i].events = POLLIN;
		ASSERT_LE(0, pfd[i].fd) TH_LOG("connection %d: %s", i,
					       strerror(errno));
		ASSERT_EQ(0, send_all(pfd[i].fd, req, sizeof(req) - 1));
	}
	while (answered < NOFILE_CONNS) {
		int n = poll(pfd, NOFILE_CONNS, 60000);

		ASSERT_LT(0, n) TH_LOG("%d of %d answered, then nothing "
				       "for 60 s", answered, NOFILE_CONNS);
		for (int i = 0; i < NOFILE_CONNS; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			check_answer(_metadata, pfd[i].fd, "Hello, \"/bar\"",
				     i, 0);
			close(pfd[i].fd);
			pfd[i].fd = -1;		/* poll skips it */
			answered++;
		}
	}
	ASSERT_EQ(0, kill(self->pid, SIGTERM));
	ASSERT_EQ(0, read_line(self->out, "httpd: stopped; ", line,
			       sizeof(line)));
	ASSERT_EQ(2, sscanf(line, "httpd: stopped; %ld requests answered on "
			    "%ld connections", &said_reqs, &said_conns))
		TH_LOG("%s", line);
	EXPECT_EQ(NOFILE_CONNS, said_reqs);
	EXPECT_EQ(NOFILE_CONNS, said_conns);
	ASSERT_EQ(self->pid, waitpid(self->pid, &status, 0));
	self->pid = -1;
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
