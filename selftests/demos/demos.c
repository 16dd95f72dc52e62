// SPDX-License-Identifier: GPL-2.0
/*
 * demos.c - every demo in userspace/demos runs in its short mode and must
 * check out: exit 0, every "check:" line ok (the demo's own checks of its
 * output against the counters, see userspace/demos/demo.h), and the
 * verdict the user reads says what the raw figures ("# raw" lines) say.
 *
 * The demos are found next to this binary (../../demos/NAME).  Cases that
 * need the module skip natively and must run in the VM (st_in_vm());
 * there the runs without the module skip instead
 * (they ran natively, and TCG is slow), like selftests/backends.  The echo
 * and hash demos run in both places: with the default backend natively
 * (sysmon on a host without the module); in the VM both run with kmod
 * (echo's io_uring calls on Gs once caught a P handed off in the middle
 * of a ring call's bookkeeping: see kmod_backend.c, "not G code").
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sact.h>

#include "sact_test.h"

#define OUTMAX	65536

enum where { BOTH, NATIVE, KMOD };

static void demo_path(const char *name, char *path, size_t size)
{
	char self[4000];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0) {
		snprintf(path, size, "build/demos/%s", name);
		return;
	}
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(path, size, "%s/../../demos/%s", self, name);
}

/* Run argv with stdout+stderr into out; its wait status, or -errno. */
static int run(char *const argv[], char *out, size_t size)
{
	int pfd[2], status;
	size_t len = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n = read(pfd[0], out + len, size - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == size - 1)
			len = 0;	/* keep going; the tail matters */
	}
	out[len] = 0;
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return status;
}

static const char *next_line(const char *l)
{
	const char *e = strchr(l, '\n');

	return e ? e + 1 : NULL;
}

#define for_each_line(l, out) \
	for (const char *l = (out); l && *l; l = next_line(l))

/* The line that starts with prefix, or NULL. */
static const char *line_of(const char *out, const char *prefix)
{
	size_t n = strlen(prefix);

	for_each_line(l, out)
		if (!strncmp(l, prefix, n))
			return l;
	return NULL;
}

/* KEY=VALUE in the line at l (up to its end); false if absent. */
static bool field(const char *l, const char *key, double *v)
{
	const char *end = strchr(l, '\n');
	size_t n = strlen(key);

	for (const char *p = l; (p = strstr(p, key)) && (!end || p < end); p++)
		if ((p == l || p[-1] == ' ') && p[n] == '=') {
			*v = strtod(p + n + 1, NULL);
			return true;
		}
	return false;
}

static int count_lines(const char *out, const char *prefix)
{
	int n = 0;
	size_t len = strlen(prefix);

	for_each_line(l, out)
		n += !strncmp(l, prefix, len);
	return n;
}

FIXTURE(demo) {
	char out[OUTMAX];
};
FIXTURE_SETUP(demo) { }
FIXTURE_TEARDOWN(demo) { }
FIXTURE_VARIANT(demo) {
	const char *name;
	const char *native_args[4];	/* after --short */
	const char *vm_args[4];
	enum where where;
};
FIXTURE_VARIANT_ADD(demo, isolation_baselines) {
	"isolation", { "--backends", "none,sysmon" }, { 0 }, NATIVE };
FIXTURE_VARIANT_ADD(demo, isolation) {
	"isolation", { 0 }, { 0 }, KMOD };
FIXTURE_VARIANT_ADD(demo, echo) {
	"echo", { 0 }, { "--backend", "kmod" }, BOTH };
FIXTURE_VARIANT_ADD(demo, hash) {
	"hash", { 0 }, { "--backend", "kmod" }, BOTH };
FIXTURE_VARIANT_ADD(demo, strict) {
	"strict", { 0 }, { 0 }, KMOD };

/* The verdict of isolation against its raw lines, backend by backend. */
static void check_isolation(struct __test_metadata *_metadata,
			    const char *out, bool need_kmod)
{
	static const char *const names[] = { "none", "sysmon", "kmod", "bpf" };
	int seen = 0;

	for (int i = 0; i < 4; i++) {
		char vpre[32], rpre[32];
		const char *v, *r;
		double cs, total, h, t, rh, rcs, rt, kh;
		unsigned long long hv;
		int tv;

		snprintf(vpre, sizeof(vpre), "  %-6s: compute took", names[i]);
		snprintf(rpre, sizeof(rpre), "# raw %s:", names[i]);
		v = line_of(out, vpre);
		r = line_of(out, rpre);
		if (!strcmp(names[i], "kmod") && need_kmod)
			ASSERT_NE(NULL, v) TH_LOG("no kmod verdict");
		if (!v) {
			EXPECT_EQ(NULL, r);
			continue;
		}
		ASSERT_NE(NULL, r) TH_LOG("%s: a verdict without raw figures",
					  names[i]);
		ASSERT_EQ(4, sscanf(v + strlen(vpre),
				    " %lf s (all done %lf s), %llu handoffs, %d threads",
				    &cs, &total, &hv, &tv));
		h = (double)hv;
		t = tv;
		ASSERT_TRUE(field(r, "handoffs", &rh));
		ASSERT_TRUE(field(r, "compute_s", &rcs));
		ASSERT_TRUE(field(r, "threads", &rt));
		EXPECT_EQ(rh, h);
		EXPECT_EQ(rcs, cs);
		EXPECT_EQ(rt, t);
		if (!strcmp(names[i], "kmod")) {
			/* what the verdict calls handoffs is the module's */
			ASSERT_TRUE(field(r, "khandoffs", &kh));
			EXPECT_EQ(kh, h);
			EXPECT_LE(1, h);
		}
		if (!strcmp(names[i], "none"))
			EXPECT_EQ(0, h);
		seen++;
	}
	EXPECT_LE(1, seen);
}

static void check_echo(struct __test_metadata *_metadata, const char *out,
		       const char *want)
{
	const char *v = line_of(out, "verdict: ");
	const char *r = line_of(out, "# raw echo:");
	char backend[16];
	unsigned long long served, echoed, verified;
	double rv;

	ASSERT_NE(NULL, v);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(4, sscanf(v, "verdict: %15[a-z]: %llu of 200 clients served, "
			    "%llu bytes echoed, %llu verified", backend,
			    &served, &echoed, &verified));
	if (want)
		EXPECT_STREQ(want, backend);
	EXPECT_EQ(200, served);
	ASSERT_TRUE(field(r, "expected", &rv));
	EXPECT_EQ(rv, (double)echoed);
	EXPECT_EQ(rv, (double)verified);
}

/* Lines "<16 hex digits>  PATH". */
static int hash_lines(const char *out)
{
	int n = 0;

	for_each_line(l, out)
		n += strspn(l, "0123456789abcdef") == 16 &&
		     !strncmp(l + 16, "  ", 2);
	return n;
}

static void check_hash(struct __test_metadata *_metadata, const char *out,
		       const char *want)
{
	const char *v = line_of(out, "verdict: ");
	const char *r = line_of(out, "# raw hash:");
	char backend[16];
	unsigned long long files, bytes;
	double rf, rb;

	ASSERT_NE(NULL, v);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(3, sscanf(v, "verdict: %15[a-z]: %llu files, %llu bytes",
			    backend, &files, &bytes));
	if (want)
		EXPECT_STREQ(want, backend);
	ASSERT_TRUE(field(r, "files", &rf));
	ASSERT_TRUE(field(r, "bytes", &rb));
	EXPECT_EQ(rf, (double)files);
	EXPECT_EQ(rb, (double)bytes);
	/* "HASH  PATH" lines: the short mode shows the first 4 */
	EXPECT_EQ(files < 4 ? files : 4, hash_lines(out));
}

static void check_strict(struct __test_metadata *_metadata, const char *out)
{
	const char *v = line_of(out, "verdict: ");
	const char *r = line_of(out, "# raw strict:");
	unsigned long long rounds, handed, parked, b, h, sp, g;
	double rsp, rg;

	ASSERT_NE(NULL, v);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(7, sscanf(v, "verdict: %llu page faults, %llu handed the P "
			    "to the standby at once, %llu parked the returning "
			    "M; module: %llu blocks, %llu handoffs, %llu strict "
			    "parks, %llu grants", &rounds, &handed, &parked,
			    &b, &h, &sp, &g));
	ASSERT_TRUE(field(r, "kstrict_parks", &rsp));
	ASSERT_TRUE(field(r, "kgrants", &rg));
	EXPECT_EQ(rsp, (double)sp);
	EXPECT_EQ(rg, (double)g);
	EXPECT_LE(1, sp);
	EXPECT_LE(rounds, sp);
	EXPECT_EQ(rounds, parked);
	EXPECT_EQ(rounds, handed);
	EXPECT_LE(rounds, h);
	EXPECT_LE(rounds, b);		/* each fault was a block */
	/* in the VM debugfs is there: the module's two views must agree */
	if (st_in_vm())
		EXPECT_NE(NULL, line_of(out, "check: ok - debugfs agrees"));
}

TEST_F(demo, short_mode)
{
	const char *const *extra = st_in_vm() ? variant->vm_args :
					     variant->native_args;
	const char *backend = NULL;	/* --backend's, if given */
	char path[4200];
	char *argv[8];
	int status, n = 0, fd;

	if (st_in_vm() && variant->where == NATIVE)
		SKIP(return, "runs natively");
	if (!st_in_vm() && variant->where == KMOD) {
		fd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			SKIP(return, SACT_DEVICE " absent: sact.ko not loaded");
		close(fd);
	}
	demo_path(variant->name, path, sizeof(path));
	argv[n++] = path;
	argv[n++] = "--short";
	for (int i = 0; i < 4 && extra[i]; i++) {
		if (i > 0 && !strcmp(extra[i - 1], "--backend"))
			backend = extra[i];
		argv[n++] = (char *)extra[i];
	}
	argv[n] = NULL;
	status = run(argv, self->out, sizeof(self->out));
	/* the demo's output, as TAP comments */
	for_each_line(l, self->out)
		printf("#   %.*s\n", (int)strcspn(l, "\n"), l);
	fflush(stdout);		/* the harness ends the test with _exit */
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	if (WEXITSTATUS(status) == 4 && !st_in_vm() && variant->where != KMOD)
		SKIP(return, "%s: something it needs is missing", variant->name);
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_LE(2, count_lines(self->out, "check: ok - "));
	EXPECT_EQ(0, count_lines(self->out, "check: FAIL"));
	if (!strcmp(variant->name, "isolation"))
		check_isolation(_metadata, self->out, variant->where == KMOD);
	else if (!strcmp(variant->name, "echo"))
		check_echo(_metadata, self->out, backend);
	else if (!strcmp(variant->name, "hash"))
		check_hash(_metadata, self->out, backend);
	else if (!strcmp(variant->name, "strict"))
		check_strict(_metadata, self->out);
}

TEST_HARNESS_MAIN
