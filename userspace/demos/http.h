/* SPDX-License-Identifier: GPL-2.0 */
/*
 * http.h - the bytes of httpd: its request parser and what it answers
 * (the greeting, the refusals), with no I/O.
 *
 * Two programs serve the same protocol with it: userspace/demos/httpd.c
 * (a G per connection, written with blocking-looking calls) and
 * userspace/bench/ring_loop.c (a hand-written io_uring event loop per
 * thread, no runtime: the ceiling the benchmarks compare httpd with).  So
 * a request costs both the same parse and the same formatting, and only
 * the way they wait differs.  Header-only: each of those programs is one
 * .c file linked alone.
 *
 * How a server uses it, per connection:
 *   1. read into a buffer of HTTP_HEAD_MAX + 1 bytes until
 *      http_head_end() finds the empty line (a full buffer without one:
 *      refuse with HTTP_TOO_LARGE);
 *   2. http_parse() the head: NULL, or the status line to refuse with;
 *      refusing is http_refusal()'s bytes, then shutdown(SHUT_WR) and
 *      up to HTTP_DRAIN_RECVS reads until the client closes, then close;
 *   3. send http_answer()'s bytes, drop the request's body
 *      (r.length bytes after the head; what follows is the next request),
 *      and close if r.close.
 * What is accepted and refused, and why, is at the top of httpd.c.
 */
#ifndef SACT_HTTP_H
#define SACT_HTTP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_HEAD_MAX	4096		/* request line + headers; more: 431 */
#define HTTP_BODY_MAX	(5 * HTTP_HEAD_MAX)	/* "&#34;" is the longest escape */
#define HTTP_HEAD_ROOM	256		/* the answer's status line and headers */
/* http_answer()'s buffer for any request (http_answer_size: for one) */
#define HTTP_ANSWER_MAX	(HTTP_HEAD_ROOM + HTTP_BODY_MAX + 16)
#define HTTP_DRAIN_RECVS 64		/* reads after a refusal, at most */

/* What Go answers to a request it refuses (before it closes). */
#define HTTP_BAD	"400 Bad Request"
#define HTTP_TOO_LARGE	"431 Request Header Fields Too Large"
#define HTTP_NO_TE	"501 Not Implemented"	/* Go decodes chunked */
#define HTTP_BAD_VERSION "505 HTTP Version Not Supported: unsupported " \
			 "protocol version"

struct http_request {
	char *target;		/* NUL-terminated, in the read buffer */
	bool head;		/* HEAD: no body in the answer */
	bool http10;		/* HTTP/1.0 (else 1.1) */
	bool close;		/* close after the answer */
	bool keep_alive;	/* HTTP/1.0 "Connection: keep-alive" */
	long long length;	/* of the request's body */
};

/*
 * The bytes http_answer() needs for r: the head's room, and the greeting
 * with every byte of the path escaped the longest way ("&#34;", 5 bytes).
 * Precondition: r was parsed (r->target is a string).
 */
static inline size_t http_answer_size(const struct http_request *r)
{
	return HTTP_HEAD_ROOM + 16 + sizeof("Hello, \"\"") +
	       5 * strlen(r->target);
}

/* --- the request --------------------------------------------------------- */

static inline int http_hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode the path (the target up to '?') in place: false if a
 * '%' is not followed by two hex digits (Go's url parser refuses it). */
static inline bool http_decode_path(char *s)
{
	char *out = s;

	for (; *s && *s != '?'; s++) {
		if (*s != '%') {
			*out++ = *s;
			continue;
		}
		if (http_hexval(s[1]) < 0 || http_hexval(s[2]) < 0)
			return false;
		*out++ = (char)(http_hexval(s[1]) << 4 | http_hexval(s[2]));
		s += 2;
	}
	*out = 0;
	return true;
}

/* RFC 9110's tchar: the bytes of a method or a header name. */
static inline bool http_is_tchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static inline bool http_is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!http_is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* The next line of the head at *p, NUL-terminated, without CR LF.
 * Precondition: a '\n' follows *p (the head ends with its empty line). */
static inline char *http_next_line(char **p)
{
	char *line = *p, *nl = strchr(line, '\n');

	*p = nl + 1;
	*nl = 0;
	if (nl > line && nl[-1] == '\r')
		nl[-1] = 0;
	return line;
}

/* Does the comma-separated list s have token tok (any case)? */
static inline bool http_has_token(const char *s, const char *tok)
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

/*
 * The length of the head at the start of buf[0..len) (through the empty
 * line), or 0 if its end has not arrived yet.
 */
static inline size_t http_head_end(const char *buf, size_t len)
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

/*
 * Parse the head (request line and headers, ending with its empty line,
 * NUL-terminated) in place into *r; r->target becomes the decoded path.
 * NULL, or the status line to refuse with.
 * Precondition: head is what http_head_end() measured, with a NUL put
 * after it and no NUL inside it (a NUL inside: refuse with HTTP_BAD).
 */
static inline const char *http_parse(char *head, struct http_request *r)
{
	char *p = head, *line = http_next_line(&p), *method, *version, *end;
	int hosts = 0;

	memset(r, 0, sizeof(*r));
	r->length = -1;
	/* request-line = method SP request-target SP HTTP-version */
	method = strsep(&line, " ");
	r->target = strsep(&line, " ");
	version = line;
	if (!r->target || !version || strchr(version, ' ') ||
	    !http_is_token(method) || r->target[0] != '/')
		return HTTP_BAD;
	for (const char *t = r->target; *t; t++)
		if ((unsigned char)*t < 0x20 || *t == 0x7f)
			return HTTP_BAD;
	if (!http_decode_path(r->target))
		return HTTP_BAD;
	if (!strcmp(version, "HTTP/1.1"))
		r->http10 = false;
	else if (!strcmp(version, "HTTP/1.0"))
		r->http10 = true;
	else if (strlen(version) == 8 && !strncmp(version, "HTTP/", 5) &&
		 version[6] == '.' && strchr("0123456789", version[5]) &&
		 strchr("0123456789", version[7]))
		return HTTP_BAD_VERSION;
	else
		return HTTP_BAD;
	r->head = !strcmp(method, "HEAD");

	/* header-field = field-name ":" OWS field-value OWS */
	while (*(line = http_next_line(&p))) {
		char *name = strsep(&line, ":"), *value = line;

		if (!value)
			return HTTP_BAD;	/* no colon, or a folded line */
		if (!http_is_token(name))
			return HTTP_BAD ": invalid header name";
		value += strspn(value, " \t");
		end = value + strlen(value);
		while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = 0;
		for (const char *v = value; *v; v++)
			if (((unsigned char)*v < 0x20 && *v != '\t') ||
			    *v == 0x7f)
				return HTTP_BAD ": invalid header value";
		if (!strcasecmp(name, "Host")) {
			hosts++;
		} else if (!strcasecmp(name, "Content-Length")) {
			long long n = 0;

			if (!*value || strspn(value, "0123456789") !=
			    strlen(value) || strlen(value) > 15)
				return HTTP_BAD;
			n = atoll(value);
			if (r->length >= 0 && r->length != n)
				return HTTP_BAD;
			r->length = n;
		} else if (!strcasecmp(name, "Transfer-Encoding")) {
			return HTTP_NO_TE;
		} else if (!strcasecmp(name, "Connection")) {
			r->close |= http_has_token(value, "close");
			r->keep_alive |= http_has_token(value, "keep-alive");
		}
	}
	if (hosts == 0 && !r->http10)
		return HTTP_BAD ": missing required Host header";
	if (hosts > 1)
		return HTTP_BAD;
	if (r->http10 && !r->keep_alive)
		r->close = true;
	if (r->length < 0)
		r->length = 0;
	return NULL;
}

/*
 * Parse the head of buf[0..end) (end: http_head_end()'s answer) into *r:
 * NULL, or the status line to refuse with.  buf must have a byte past
 * end; it is left as it was (the next request may start there).
 */
static inline const char *http_parse_head(char *buf, size_t end,
					  struct http_request *r)
{
	const char *bad;
	char keep;

	if (memchr(buf, 0, end))
		return HTTP_BAD;
	keep = buf[end];
	buf[end] = 0;
	bad = http_parse(buf, r);
	buf[end] = keep;
	return bad;
}

/* --- the answer ------------------------------------------------------------- */

/* The length of the UTF-8 sequence at s (of n bytes) and its code point
 * in *cp; 0 if it is not valid UTF-8. */
static inline int http_utf8_decode(const unsigned char *s, size_t n,
				   unsigned int *cp)
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
 * Precondition: out has HTTP_BODY_MAX bytes, path is shorter than
 * HTTP_HEAD_MAX.
 */
static inline size_t http_greeting(char *out, const char *path)
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
			   !(len = http_utf8_decode(s + i, n - i, &cp))) {
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
 * The answer to the parsed request r, in buf (http_answer_size(r) bytes,
 * at most HTTP_ANSWER_MAX):
 * returns where it starts in buf, its length in *len.  The body is
 * written first, at buf + HTTP_HEAD_ROOM, since the head says its
 * length; the head then goes right in front of it.
 * Precondition: http_parse() returned NULL for r, and r->target still
 * points into the head (the read buffer has not moved).
 */
static inline const char *http_answer(char *buf, const struct http_request *r,
				      size_t *len)
{
	char head[HTTP_HEAD_ROOM], date[32];
	size_t blen = http_greeting(buf + HTTP_HEAD_ROOM, r->target);
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
	memcpy(buf + HTTP_HEAD_ROOM - n, head, (size_t)n);
	*len = (size_t)n + (r->head ? 0 : blen);
	return buf + HTTP_HEAD_ROOM - n;
}

/*
 * The refusal with status line what (one of HTTP_BAD... or what
 * http_parse() returned) into buf of size bytes: its length.
 * Precondition: size >= 256 (the longest refusal fits).
 */
static inline size_t http_refusal(char *buf, size_t size, const char *what)
{
	return (size_t)snprintf(buf, size, "HTTP/1.1 %s\r\nContent-Type: "
				"text/plain; charset=utf-8\r\nConnection: "
				"close\r\n\r\n%s", what, what);
}

#endif /* SACT_HTTP_H */
