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
 * SIGINT or SIGTERM shut the listening socket and every connection down;
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
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sact.h>

#define HEAD_MAX	4096		/* request line + headers; more: 431 */
#define BODY_MAX	(5 * HEAD_MAX)	/* "&#34;" is the longest escape */
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

/* --- the request --------------------------------------------------------- */

struct request {
	char *target;		/* NUL-terminated, in the read buffer */
	bool head;		/* HEAD: no body in the answer */
	bool http10;		/* HTTP/1.0 (else 1.1) */
	bool close;		/* close after the answer */
	bool keep_alive;	/* HTTP/1.0 "Connection: keep-alive" */
	long long length;	/* of the request's body */
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode the path (the target up to '?') in place: false if a
 * '%' is not followed by two hex digits (Go's url parser refuses it). */
static bool decode_path(char *s)
{
	char *out = s;

	for (; *s && *s != '?'; s++) {
		if (*s != '%') {
			*out++ = *s;
			continue;
		}
		if (hexval(s[1]) < 0 || hexval(s[2]) < 0)
			return false;
		*out++ = (char)(hexval(s[1]) << 4 | hexval(s[2]));
		s += 2;
	}
	*out = 0;
	return true;
}

/* RFC 9110's tchar: the bytes of a method or a header name. */
static bool is_tchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* The next line of the head at *p, NUL-terminated, without CR LF. */
static char *next_line(char **p)
{
	char *line = *p, *nl = strchr(line, '\n');

	*p = nl + 1;
	*nl = 0;
	if (nl > line && nl[-1] == '\r')
		nl[-1] = 0;
	return line;
}

/* Does the comma-separated list s have token tok (any case)? */
static bool has_token(const char *s, const char *tok)
{
	size_t n = strlen(tok);

	while (*s) {
		s += strspn(s, " \t,");
		if (!strncasecmp(s, tok, n) && strchr(" \t,", s[n]))
			return true;
		s += strcspn(s, ",");
	}
	return false;
}

/* What Go answers to a request it refuses (before it closes). */
#define BAD		"400 Bad Request"
#define TOO_LARGE	"431 Request Header Fields Too Large"
#define NO_TE		"501 Not Implemented"	/* Go decodes chunked */
#define BAD_VERSION	"505 HTTP Version Not Supported: unsupported " \
			"protocol version"

/*
 * Parse the head (request line and headers, NUL-terminated, ending with
 * its empty line) in place into *r; r->target becomes the decoded path.
 * NULL, or the status line to answer with before closing.
 */
static const char *parse(char *head, struct request *r)
{
	char *p = head, *line = next_line(&p), *method, *version, *end;
	int hosts = 0;

	memset(r, 0, sizeof(*r));
	r->length = -1;
	/* request-line = method SP request-target SP HTTP-version */
	method = strsep(&line, " ");
	r->target = strsep(&line, " ");
	version = line;
	if (!r->target || !version || strchr(version, ' ') ||
	    !is_token(method) || r->target[0] != '/')
		return BAD;
	for (const char *t = r->target; *t; t++)
		if ((unsigned char)*t < 0x20 || *t == 0x7f)
			return BAD;
	if (!decode_path(r->target))
		return BAD;
	if (!strcmp(version, "HTTP/1.1"))
		r->http10 = false;
	else if (!strcmp(version, "HTTP/1.0"))
		r->http10 = true;
	else if (strlen(version) == 8 && !strncmp(version, "HTTP/", 5) &&
		 version[6] == '.' && strchr("0123456789", version[5]) &&
		 strchr("0123456789", version[7]))
		return BAD_VERSION;
	else
		return BAD;
	r->head = !strcmp(method, "HEAD");

	/* header-field = field-name ":" OWS field-value OWS */
	while (*(line = next_line(&p))) {
		char *name = strsep(&line, ":"), *value = line;

		if (!value)
			return BAD;	/* no colon, or a folded line */
		if (!is_token(name))
			return BAD ": invalid header name";
		value += strspn(value, " \t");
		end = value + strlen(value);
		while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = 0;
		for (const char *v = value; *v; v++)
			if (((unsigned char)*v < 0x20 && *v != '\t') ||
			    *v == 0x7f)
				return BAD ": invalid header value";
		if (!strcasecmp(name, "Host")) {
			hosts++;
		} else if (!strcasecmp(name, "Content-Length")) {
			long long n = 0;

			if (!*value || strspn(value, "0123456789") !=
			    strlen(value) || strlen(value) > 15)
				return BAD;
			n = atoll(value);
			if (r->length >= 0 && r->length != n)
				return BAD;
			r->length = n;
		} else if (!strcasecmp(name, "Transfer-Encoding")) {
			return NO_TE;
		} else if (!strcasecmp(name, "Connection")) {
			r->close |= has_token(value, "close");
			r->keep_alive |= has_token(value, "keep-alive");
		}
	}
	if (hosts == 0 && !r->http10)
		return BAD ": missing required Host header";
	if (hosts > 1)
		return BAD;
	if (r->http10 && !r->keep_alive)
		r->close = true;
	if (r->length < 0)
		r->length = 0;
	return NULL;
}

/* --- the answer ------------------------------------------------------------- */

/* The length of the UTF-8 sequence at s (of n bytes) and its code point
 * in *cp; 0 if it is not valid UTF-8. */
static int utf8_decode(const unsigned char *s, size_t n, unsigned int *cp)
{
	int len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	static const unsigned int min[] = { 0, 0, 0x80, 0x800, 0x10000 };

	if (s[0] < 0xc2 || s[0] > 0xf4 || (size_t)len > n)
		return 0;
	*cp = s[0] & (0x7f >> len);
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < min[len] || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * The greeting's body into out: "Hello, " and the path after
 * html.EscapeString and %q.  The HTML escapes are printable ASCII, which
 * %q leaves alone, so one pass does both.  %q writes \" and \\;
 * \a \b \f \n \r \t \v; \xHH for other control bytes and for bytes
 * that are not UTF-8; \u00HH for the C1 controls and the soft hyphen;
 * other UTF-8 as it is (Go also escapes the few unprintable code points
 * above U+00FF; a greeting can live without that).  Returns its length.
 */
static size_t greeting(char *out, const char *path)
{
	static const char ctl[] = "\a\b\f\n\r\t\v", hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)path;
	size_t n = strlen(path);
	char *o = stpcpy(out, "Hello, \"");

	for (size_t i = 0; i < n; i++) {
		const char *html = s[i] == '&' ? "&amp;" : s[i] == '\'' ?
			"&#39;" : s[i] == '<' ? "&lt;" : s[i] == '>' ?
			"&gt;" : s[i] == '"' ? "&#34;" : NULL;
		unsigned int cp;
		int len;

		if (html) {
			o = stpcpy(o, html);
		} else if (s[i] == '\\') {
			o = stpcpy(o, "\\\\");
		} else if (s[i] >= 0x20 && s[i] < 0x7f) {
			*o++ = (char)s[i];
		} else if (s[i] && strchr(ctl, s[i])) {
			*o++ = '\\';
			*o++ = "abfnrtv"[strchr(ctl, s[i]) - ctl];
		} else if (s[i] < 0x80 ||
			   !(len = utf8_decode(s + i, n - i, &cp))) {
			o += sprintf(o, "\\x%c%c", hex[s[i] >> 4],
				     hex[s[i] & 15]);
		} else if (cp < 0xa0 || cp == 0xad) {
			o += sprintf(o, "\\u%04x", cp);
			i += (size_t)len - 1;
		} else {
			memcpy(o, s + i, (size_t)len);
			o += len;
			i += (size_t)len - 1;
		}
	}
	*o++ = '"';
	return (size_t)(o - out);
}

/*
 * Refuse a request the way Go does (what: its status line), then close
 * our side and wait for the client to close its own (so that what it
 * sends meanwhile does not reset the connection before it reads this).
 */
static void refuse(int fd, const char *what)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "HTTP/1.1 %s\r\nContent-Type: "
			 "text/plain; charset=utf-8\r\nConnection: close\r\n"
			 "\r\n%s", what, what);

	if (net_send_all(fd, buf, (size_t)n))
		return;
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 64 && net_recv(fd, buf, sizeof(buf)) > 0; i++)
		;
}

/*
 * Answer a parsed request in one send: 0, or -1 if the connection broke.
 * The body is written first, at out + HEAD_ROOM, since the head says its
 * length; the head then goes right in front of it.
 */
static int answer(int fd, struct request *r)
{
	enum { HEAD_ROOM = 256 };
	char out[HEAD_ROOM + BODY_MAX + 16], head[HEAD_ROOM], date[32];
	size_t blen = greeting(out + HEAD_ROOM, r->target);
	time_t now = time(NULL);
	struct tm tm;
	int n;

	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT",
		 gmtime_r(&now, &tm));
	n = snprintf(head, sizeof(head), "HTTP/1.%d 200 OK\r\nDate: %s\r\n"
		     "Content-Length: %zu\r\nContent-Type: text/plain; "
		     "charset=utf-8\r\n%s\r\n", r->http10 ? 0 : 1, date, blen,
		     r->close && !r->http10 ? "Connection: close\r\n" :
		     !r->close && r->http10 ? "Connection: keep-alive\r\n" : "");
	memcpy(out + HEAD_ROOM - n, head, (size_t)n);
	atomic_fetch_add(&nrequests, 1);
	return net_send_all(fd, out + HEAD_ROOM - n,
			    (size_t)n + (r->head ? 0 : blen));
}

/* --- a connection: read a request, answer it, until the client leaves --- */

/* The length of the head at the start of buf[0..len) (through the empty
 * line), or 0 if its end has not arrived yet. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static void serve(int fd)
{
	char buf[HEAD_MAX + 1];
	size_t have = 0, end;
	struct request r;
	const char *bad;
	ssize_t n;

	for (;;) {
		/* read until the empty line that ends the head */
		while (!(end = head_end(buf, have))) {
			if (have == HEAD_MAX) {
				refuse(fd, TOO_LARGE);
				return;
			}
			n = net_recv(fd, buf + have, HEAD_MAX - have);
			if (n <= 0)
				return;		/* the client left */
			have += (size_t)n;
		}
		if (memchr(buf, 0, end)) {
			bad = BAD;
		} else {
			char keep = buf[end];

			buf[end] = 0;
			bad = parse(buf, &r);
			buf[end] = keep;	/* the next request may start here */
		}
		if (bad) {
			refuse(fd, bad);
			return;
		}
		if (answer(fd, &r))
			return;
		/* drop the body, keep what follows (a pipelined request) */
		while (r.length > (long long)(have - end)) {
			r.length -= (long long)(have - end);
			have = end = 0;
			n = net_recv(fd, buf, HEAD_MAX);
			if (n <= 0)
				return;
			have = (size_t)n;
		}
		end += (size_t)r.length;
		memmove(buf, buf + end, have - end);
		have -= end;
		if (r.close)
			return;
	}
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
	while ((fd = net_accept()) >= 0 || fd == -EINTR || fd == -ECONNABORTED) {
		if (fd < 0)
			continue;
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
