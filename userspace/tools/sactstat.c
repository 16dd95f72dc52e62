// SPDX-License-Identifier: GPL-2.0
/*
 * sactstat - the counters of running sact groups, like vmstat.
 *
 *   sactstat [-g GROUP] [-f FILE] [interval [count]]
 *   sactstat -t [-g GROUP]
 *
 * Reads the module's debugfs view, /sys/kernel/debug/sact/groups (header
 * line of column names, then one line of decimal fields per group; see
 * sact(4)), and prints one line per group.  The first report gives each
 * group's totals since it was opened, like vmstat's first line; every
 * later report, one per interval, gives what happened during that
 * interval.  workers and standbys are current values, never deltas.  A
 * group opened during an interval shows everything it did (it started at
 * zero); a group closed during one is no longer shown.
 *
 * Columns are found by the names in the header, so a module that adds
 * columns still works; a missing column is an error, not a zero.
 *
 * Exit status: 0, 1 on an error (module not loaded, debugfs not mounted,
 * not root, group not found), 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define GROUPS_FILE	"/sys/kernel/debug/sact/groups"
#define DEBUGFS_DIR	"/sys/kernel/debug"
#define MODULE_DIR	"/sys/module/sact"
#define DEBUGFS_MAGIC_	0x64626720	/* linux/magic.h's DEBUGFS_MAGIC */
#define TRACEFS_MAGIC_	0x74726163	/* what debugfs holds on some setups */

/* The columns we print, in the file's names; the order of struct grp. */
enum {
	C_ID, C_TGID, C_UID, C_WORKERS, C_STANDBYS, C_BLOCKS, C_UNBLOCKS,
	C_UPCALLS, C_HANDOFFS, C_STRICT_PARKS, C_RING_OVERFLOWS, C_RECLAIMS,
	C_GRANTS, NCOLS
};

static const char *const col_name[NCOLS] = {
	"id", "tgid", "uid", "workers", "standbys", "blocks", "unblocks",
	"upcalls", "handoffs", "strict_parks", "ring_overflows", "reclaims",
	"grants",
};

/* Gauges are printed as they are; the others are counters (deltas). */
static const bool col_gauge[NCOLS] = {
	[C_ID] = true, [C_TGID] = true, [C_UID] = true,
	[C_WORKERS] = true, [C_STANDBYS] = true,
};

/* Header of the output: short names, and the width of each column. */
static const char *const out_name[NCOLS] = {
	"id", "tgid", "uid", "wrk", "sby", "blocks", "unblocks", "upcalls",
	"handoffs", "sparks", "overflows", "reclaims", "grants",
};
static const int out_width[NCOLS] = {
	5, 7, 6, 4, 4, 9, 9, 9, 9, 7, 9, 9, 7,
};

struct grp {
	uint64_t v[NCOLS];
};

struct sample {
	struct grp *g;
	size_t n, cap;
};

static const char *prog = "sactstat";

static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [-g GROUP] [-f FILE] [interval [count]]\n"
		"       %s -t [-g GROUP]\n"
		"\n"
		"Show the counters of the running sact groups (sact.ko), one line per\n"
		"group.  The first report gives totals since each group was opened;\n"
		"with an interval (seconds, may be fractional), one more report\n"
		"follows every interval with what happened during it, count reports\n"
		"in all (default: until interrupted).  wrk and sby (workers,\n"
		"standbys) are current values.\n"
		"\n"
		"  -g GROUP  only the group with this id (the first column)\n"
		"  -f FILE   read FILE instead of " GROUPS_FILE "\n"
		"  -t        print the module's tracepoints (events/sact) as they\n"
		"            come, a handoff timeline, until interrupted\n"
		"  -h        this help\n"
		"\n"
		"Columns: blocks, unblocks (block episodes of workers), upcalls\n"
		"(standbys woken with a P), handoffs (Ps taken from blocked workers),\n"
		"sparks (strict-mode parks), overflows (always 0 since ABI 2),\n"
		"reclaims (strict unblocks that took their P back), grants.\n"
		"Needs root (debugfs).  See sactstat(8), sact(4).\n",
		prog, prog);
}

/*
 * Why the groups file cannot be opened, in words a user can act on.
 * @err is open()'s errno.
 */
static void explain_open_error(const char *path, int err, bool custom)
{
	struct statfs sfs;
	struct stat st;

	if (custom)
		die(1, "cannot open %s: %s", path, strerror(err));
	if (stat(MODULE_DIR, &st) != 0)
		die(1, "the sact module is not loaded (no %s): "
		    "load it with 'modprobe sact' or 'insmod sact.ko'",
		    MODULE_DIR);
	if (err == EACCES || err == EPERM)
		die(1, "cannot read %s: %s%s", path, strerror(err),
		    geteuid() ? " (debugfs is readable by root only: run as root)" : "");
	if (err == ENOENT) {
		if (statfs(DEBUGFS_DIR, &sfs) != 0 ||
		    ((unsigned long)sfs.f_type != DEBUGFS_MAGIC_ &&
		     (unsigned long)sfs.f_type != TRACEFS_MAGIC_))
			die(1, "debugfs is not mounted on %s: mount it with "
			    "'mount -t debugfs debugfs %s'", DEBUGFS_DIR,
			    DEBUGFS_DIR);
		die(1, "%s does not exist although the module is loaded and "
		    "debugfs mounted (a kernel without CONFIG_DEBUG_FS?)", path);
	}
	die(1, "cannot open %s: %s", path, strerror(err));
}

/* Parse one unsigned decimal field; false if it is not one. */
static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && !*end;
}

#define MAXFIELDS 64

/* Split @line at blanks into at most MAXFIELDS fields; return how many. */
static int split(char *line, char **f)
{
	int n = 0;

	for (char *tok = strtok(line, " \t\n"); tok && n < MAXFIELDS;
	     tok = strtok(NULL, " \t\n"))
		f[n++] = tok;
	return n;
}

/*
 * Read one sample of @path into @s.  Dies with a message on any error:
 * a tool like this has nothing better to do.
 */
static void read_sample(const char *path, bool custom, struct sample *s)
{
	char line[4096], *f[MAXFIELDS];
	int pos[NCOLS], nf, ncols, lineno = 1;
	FILE *in;

	in = fopen(path, "re");
	if (!in)
		explain_open_error(path, errno, custom);
	s->n = 0;
	if (!fgets(line, sizeof(line), in))
		die(1, "%s: empty (no header line)", path);
	ncols = split(line, f);
	for (int c = 0; c < NCOLS; c++) {
		pos[c] = -1;
		for (int i = 0; i < ncols; i++)
			if (!strcmp(f[i], col_name[c]))
				pos[c] = i;
		if (pos[c] < 0)
			die(1, "%s: no column '%s' in the header: not a sact "
			    "groups file, or a module this sactstat does not know",
			    path, col_name[c]);
	}
	while (fgets(line, sizeof(line), in)) {
		struct grp g;

		lineno++;
		nf = split(line, f);
		if (nf == 0)
			continue;
		if (nf != ncols)
			die(1, "%s:%d: %d fields, the header has %d", path,
			    lineno, nf, ncols);
		for (int c = 0; c < NCOLS; c++)
			if (!parse_u64(f[pos[c]], &g.v[c]))
				die(1, "%s:%d: %s is not a number: '%s'", path,
				    lineno, col_name[c], f[pos[c]]);
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 16;
			s->g = realloc(s->g, s->cap * sizeof(*s->g));
			if (!s->g)
				die(1, "out of memory");
		}
		s->g[s->n++] = g;
	}
	if (ferror(in))
		die(1, "%s: read error", path);
	fclose(in);
}

static const struct grp *find_group(const struct sample *s, uint64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->g[i].v[C_ID] == id)
			return &s->g[i];
	return NULL;
}

static void print_header(void)
{
	for (int c = 0; c < NCOLS; c++)
		printf("%*s", out_width[c] + (c ? 1 : 0), out_name[c]);
	putchar('\n');
}

/* One line: @g's values, minus @prev's for counters (@prev may be NULL). */
static void print_group(const struct grp *g, const struct grp *prev)
{
	for (int c = 0; c < NCOLS; c++) {
		uint64_t v = g->v[c];

		if (prev && !col_gauge[c])
			v -= prev->v[c];
		printf("%*" PRIu64, out_width[c] + (c ? 1 : 0), v);
	}
	putchar('\n');
}

static bool parse_interval(const char *s, struct timespec *ts)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || *end || end == s || !(d > 0) || d > 86400.0 * 365)
		return false;
	ts->tv_sec = (time_t)d;
	ts->tv_nsec = (long)((d - (double)ts->tv_sec) * 1e9);
	if (ts->tv_nsec >= 1000000000L)
		ts->tv_nsec = 999999999L;
	if (!ts->tv_sec && !ts->tv_nsec)
		ts->tv_nsec = 1;
	return true;
}

static void timespec_add(struct timespec *t, const struct timespec *d)
{
	t->tv_sec += d->tv_sec;
	t->tv_nsec += d->tv_nsec;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* --- -t: the live timeline from the module's tracepoints --------------- */

#define TRACING_DIR	"/sys/kernel/tracing"

static volatile sig_atomic_t trace_stop;

static void on_stop(int sig)
{
	(void)sig;
	trace_stop = 1;		/* no SA_RESTART: the read returns */
}

static int tracing_write(const char *file, const char *val)
{
	char path[256];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), TRACING_DIR "/%s", file);
	f = fopen(path, "we");
	if (!f)
		return -1;
	ret = fputs(val, f) == EOF;
	return fclose(f) || ret ? -1 : 0;
}

/*
 * In a trace instance of our own (its own buffer, recording on whatever
 * the global tracing_on says, nothing else enabled), enable the events/sact
 * tracepoints (only group @group's with -g), print
 * each event as it comes from trace_pipe - time, CPU, event, fields -
 * until interrupted, then disable them again.
 */
static int trace_timeline(bool have_group, uint64_t group)
{
	struct sigaction sa = { .sa_handler = on_stop };
	char filter[64], line[1024], inst[64], path[256], pipe_path[300];
	char ev_filter[128], ev_enable[128];
	FILE *f;

	if (access(TRACING_DIR "/events/sact", F_OK))
		die(1, "no %s/events/sact: load sact.ko, mount tracefs, run as "
		    "root", TRACING_DIR);
	if (have_group)
		snprintf(filter, sizeof(filter), "group == %" PRIu64, group);
	else
		snprintf(filter, sizeof(filter), "0");	/* no filter */
	snprintf(inst, sizeof(inst), "instances/sactstat-%d", (int)getpid());
	snprintf(path, sizeof(path), TRACING_DIR "/%s", inst);
	if (mkdir(path, 0755))
		die(1, "%s: %s", path, strerror(errno));
	snprintf(ev_filter, sizeof(ev_filter), "%s/events/sact/filter", inst);
	snprintf(ev_enable, sizeof(ev_enable), "%s/events/sact/enable", inst);
	if (tracing_write(ev_filter, filter) || tracing_write(ev_enable, "1")) {
		int err = errno;

		rmdir(path);
		die(1, "cannot enable the sact tracepoints: %s",
		    strerror(err));
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a reader gone (| head): EPIPE, clean up */
	snprintf(pipe_path, sizeof(pipe_path), "%s/trace_pipe", path);
	f = fopen(pipe_path, "re");
	if (!f) {
		int err = errno;

		tracing_write(ev_enable, "0");
		rmdir(path);
		die(1, "%s: %s", pipe_path, strerror(err));
	}
	/* enabled: the header says so to a reader waiting for it */
	printf("%16s %4s  %s\n", "time", "cpu", "event: fields");
	fflush(stdout);
	while (!trace_stop && fgets(line, sizeof(line), f)) {
		char *ev = strstr(line, ": sact_"), *ts, *cpu;

		if (!ev || !(cpu = strchr(line, '[')))
			continue;
		*ev = '\0';
		ts = strrchr(line, ' ');
		printf("%16s %4.*s  %s", ts ? ts + 1 : "?",
		       (int)strcspn(cpu + 1, "]"), cpu + 1, ev + 2);
		if (fflush(stdout) == EOF)
			break;		/* the reader went away */
	}
	fclose(f);
	tracing_write(ev_enable, "0");
	rmdir(path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = GROUPS_FILE;
	struct sample cur = { 0 }, prev = { 0 }, tmp;
	struct timespec interval = { 0 }, next;
	bool custom = false, have_group = false, have_interval = false;
	bool trace = false;
	unsigned long long count = 0;	/* 0: forever */
	uint64_t group = 0;
	char *end;
	int opt;

	if (argv[0] && strrchr(argv[0], '/'))
		prog = strrchr(argv[0], '/') + 1;
	else if (argv[0] && argv[0][0])
		prog = argv[0];
	while ((opt = getopt(argc, argv, "+g:f:th")) != -1) {
		switch (opt) {
		case 'g':
			if (!parse_u64(optarg, &group))
				die(2, "-g wants a group id (a number), not '%s'",
				    optarg);
			have_group = true;
			break;
		case 'f':
			path = optarg;
			custom = true;
			break;
		case 't':
			trace = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 2 || (trace && (custom || optind < argc))) {
		usage(stderr);
		return 2;
	}
	if (trace)
		return trace_timeline(have_group, group);
	if (optind < argc) {
		if (!parse_interval(argv[optind], &interval))
			die(2, "the interval must be a positive number of "
			    "seconds, not '%s'", argv[optind]);
		have_interval = true;
	}
	if (optind + 1 < argc) {
		errno = 0;
		count = strtoull(argv[optind + 1], &end, 10);
		if (errno || *end || !count || argv[optind + 1][0] == '-')
			die(2, "the count must be a positive number, not '%s'",
			    argv[optind + 1]);
	}
	if (!have_interval)
		count = 1;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned long long r = 0; !count || r < count; r++) {
		read_sample(path, custom, &cur);
		if (have_group && !find_group(&cur, group)) {
			if (r == 0)
				die(1, "no group %" PRIu64 " (see '%s' without -g)",
				    group, prog);
			fprintf(stderr, "%s: group %" PRIu64 " is gone\n",
				prog, group);
			break;
		}
		if (r == 0)
			print_header();
		for (size_t i = 0; i < cur.n; i++) {
			const struct grp *g = &cur.g[i];

			if (have_group && g->v[C_ID] != group)
				continue;
			print_group(g, r ? find_group(&prev, g->v[C_ID]) : NULL);
		}
		if (fflush(stdout) == EOF)
			return 1;		/* the reader went away */
		tmp = prev;
		prev = cur;
		cur = tmp;
		if (count && r + 1 == count)
			break;
		timespec_add(&next, &interval);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
				       NULL) == EINTR)
			;
	}
	free(cur.g);
	free(prev.g);
	return 0;
}
