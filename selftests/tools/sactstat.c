// SPDX-License-Identifier: GPL-2.0
/*
 * sactstat.c - the sactstat tool (userspace/tools/sactstat.c) against a
 * file of known content, against the host as it is (module loaded or
 * not), and against the module: a worker that blocks N times shows
 * exactly N blocks in sactstat's per-interval deltas.
 *
 * The binary under test is build/tools/sactstat, found next to this one
 * (../../tools/sactstat); SACTSTAT overrides the path.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "sact_test.h"
#include "kmod/kmod_util.h"

#define NCOLS	13	/* id tgid uid wrk sby blocks unblocks upcalls ... */
enum { ID, TGID, UID, WRK, SBY, BLOCKS, UNBLOCKS, UPCALLS, HANDOFFS,
       SPARKS, OVERFLOWS, RECLAIMS, GRANTS };

static const char *sactstat_path(void)
{
	static char path[4200];
	char self[4000];
	ssize_t n;
	char *slash;

	if (getenv("SACTSTAT"))
		return getenv("SACTSTAT");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return "build/tools/sactstat";
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(path, sizeof(path), "%s/../../tools/sactstat", self);
	return path;
}

/* A running sactstat: its stdout as a stream, stderr into a pipe. */
struct child {
	pid_t pid;
	FILE *out;
	int errfd;
};

static int child_start(struct child *c, char *const argv[])
{
	int out[2], err[2];

	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	c->out = fdopen(out[0], "r");
	c->errfd = err[0];
	return c->out ? 0 : -ENOMEM;
}

/* Wait for it; its exit status (or 128 + signal), stderr into @err. */
static int child_wait(struct child *c, char *err, size_t errsize)
{
	size_t n = 0;
	ssize_t r;
	int st;

	while (n + 1 < errsize &&
	       (r = read(c->errfd, err + n, errsize - 1 - n)) > 0)
		n += r;
	err[n] = 0;
	close(c->errfd);
	fclose(c->out);
	if (waitpid(c->pid, &st, 0) != c->pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Run sactstat with @args (NULL-terminated, without argv[0]): stdout into
 * @out, stderr into @err; return its exit status.
 */
static int run(char *out, size_t outsize, char *err, size_t errsize,
	       const char *const *args)
{
	char *argv[16] = { (char *)sactstat_path() };
	struct child c;
	size_t n = 0;
	int i;

	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	if (child_start(&c, argv))
		return -1;
	n = fread(out, 1, outsize - 1, c.out);
	out[n] = 0;
	return child_wait(&c, err, errsize);
}

/* Parse a data line into v[NCOLS]; false if it is not one. */
static bool parse_line(const char *line, uint64_t *v)
{
	int used = 0;

	if (sscanf(line, "%lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu%n",
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
		   &v[8], &v[9], &v[10], &v[11], &v[12], &used) != NCOLS)
		return false;
	return line[used] == '\n' || line[used] == 0;
}

static const char header[] =
	"   id    tgid    uid  wrk  sby    blocks  unblocks   upcalls  handoffs  sparks overflows  reclaims  grants\n";

static const char groups_file[] =
	"id tgid uid workers standbys blocks unblocks upcalls handoffs strict_parks ring_overflows reclaims grants\n"
	"1 100 0 3 1 10 9 4 10 0 0 0 0\n"
	"7 200 1000 128 32 123456789 123456788 5 6 7 8 9 10\n";

FIXTURE(file) {
	char path[64];
	char out[8192], err[4096];
};

FIXTURE_SETUP(file)
{
	int fd;

	strcpy(self->path, "/tmp/sactstat-test.XXXXXX");
	fd = mkstemp(self->path);
	ASSERT_LE(0, fd);
	ASSERT_EQ(strlen(groups_file), write(fd, groups_file, strlen(groups_file)));
	close(fd);
}

FIXTURE_TEARDOWN(file)
{
	unlink(self->path);
}

/* Totals: the header and one line per group, the file's numbers. */
TEST_F(file, totals)
{
	const char *args[] = { "-f", self->path, NULL };
	char *second;
	uint64_t v[NCOLS];

	ASSERT_EQ(0, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), args)) TH_LOG("%s", self->err);
	ASSERT_EQ(0, strncmp(self->out, header, strlen(header)))
		TH_LOG("header: %s", self->out);
	ASSERT_TRUE(parse_line(self->out + strlen(header), v));
	EXPECT_EQ(1, v[ID]);
	EXPECT_EQ(100, v[TGID]);
	EXPECT_EQ(3, v[WRK]);
	EXPECT_EQ(1, v[SBY]);
	EXPECT_EQ(10, v[BLOCKS]);
	EXPECT_EQ(9, v[UNBLOCKS]);
	EXPECT_EQ(4, v[UPCALLS]);
	EXPECT_EQ(10, v[HANDOFFS]);
	second = strchr(self->out + strlen(header), '\n');
	ASSERT_NE(NULL, second);
	ASSERT_TRUE(parse_line(second + 1, v));
	EXPECT_EQ(7, v[ID]);
	EXPECT_EQ(1000, v[UID]);
	EXPECT_EQ(128, v[WRK]);
	EXPECT_EQ(123456789, v[BLOCKS]);
	EXPECT_EQ(7, v[SPARKS]);
	EXPECT_EQ(8, v[OVERFLOWS]);
	EXPECT_EQ(9, v[RECLAIMS]);
	EXPECT_EQ(10, v[GRANTS]);
	EXPECT_EQ(NULL, strchr(strchr(second + 1, '\n') + 1, '\n'));
}

/*
 * -g and an interval: the first line is totals, the next ones deltas
 * (zero here: the file does not change) but for the gauges wrk and sby.
 */
TEST_F(file, interval_deltas)
{
	const char *args[] = { "-g", "7", "-f", self->path, "0.05", "3", NULL };
	uint64_t v[NCOLS];
	char *line;
	int i;

	ASSERT_EQ(0, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), args)) TH_LOG("%s", self->err);
	ASSERT_EQ(0, strncmp(self->out, header, strlen(header)));
	line = self->out + strlen(header);
	for (i = 0; i < 3; i++) {
		ASSERT_TRUE(parse_line(line, v)) TH_LOG("line %d: %s", i, line);
		EXPECT_EQ(7, v[ID]);
		EXPECT_EQ(128, v[WRK]);
		EXPECT_EQ(32, v[SBY]);
		EXPECT_EQ(i ? 0 : 123456789, v[BLOCKS]);
		EXPECT_EQ(i ? 0 : 10, v[GRANTS]);
		line = strchr(line, '\n') + 1;
	}
	EXPECT_EQ(0, *line);
}

TEST_F(file, errors)
{
	const char *nogroup[] = { "-g", "3", "-f", self->path, NULL };
	const char *badint[] = { "-f", self->path, "0", NULL };
	const char *badcount[] = { "-f", self->path, "1", "x", NULL };
	const char *badopt[] = { "-z", NULL };
	const char *help[] = { "-h", NULL };
	const char *missing[] = { "-f", "/nonexistent/groups", NULL };
	int fd;

	EXPECT_EQ(1, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), nogroup));
	EXPECT_NE(NULL, strstr(self->err, "no group 3")) TH_LOG("%s", self->err);
	EXPECT_EQ(2, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), badint));
	EXPECT_EQ(2, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), badcount));
	EXPECT_EQ(2, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), badopt));
	EXPECT_EQ(0, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), help));
	EXPECT_NE(NULL, strstr(self->out, "Usage: sactstat"));
	EXPECT_EQ(1, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), missing));
	EXPECT_NE(NULL, strstr(self->err, "/nonexistent/groups"));
	/* a file without the expected columns */
	fd = open(self->path, O_WRONLY | O_TRUNC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(6, write(fd, "a b c\n", 6));
	close(fd);
	missing[1] = self->path;
	EXPECT_EQ(1, run(self->out, sizeof(self->out), self->err,
			 sizeof(self->err), missing));
	EXPECT_NE(NULL, strstr(self->err, "no column 'id'")) TH_LOG("%s", self->err);
}

/*
 * The real file, as this machine has it: without the module, sactstat
 * says so (exit 1); with it (and as root), it prints the header.
 */
TEST(host)
{
	const char *args[] = { NULL };
	char out[8192], err[4096];
	struct stat st;
	int rc;

	rc = run(out, sizeof(out), err, sizeof(err), args);
	if (stat("/sys/module/sact", &st) != 0) {
		EXPECT_EQ(1, rc);
		EXPECT_NE(NULL, strstr(err, "module is not loaded"))
			TH_LOG("stderr: %s", err);
	} else if (geteuid() != 0) {
		EXPECT_EQ(1, rc);
		EXPECT_NE(NULL, strstr(err, "root")) TH_LOG("stderr: %s", err);
	} else {
		EXPECT_EQ(0, rc) TH_LOG("stderr: %s", err);
		EXPECT_EQ(0, strncmp(out, header, strlen(header)))
			TH_LOG("stdout: %s", out);
	}
}

#define NBLOCKS		10

/* The id of this process's group, from sactstat's totals; 0 if none. */
static uint64_t own_group(struct __test_metadata *_metadata)
{
	const char *args[] = { NULL };
	char out[65536], err[4096], *line;
	uint64_t v[NCOLS], id = 0;
	int rc;

	rc = run(out, sizeof(out), err, sizeof(err), args);
	EXPECT_EQ(0, rc) TH_LOG("stderr: %s", err);
	for (line = strchr(out, '\n'); line && line[1]; line = strchr(line, '\n')) {
		line++;
		if (parse_line(line, v) && v[TGID] == (uint64_t)getpid())
			id = v[ID];
	}
	return id;
}

/*
 * A registered worker holding P 0 blocks NBLOCKS times while sactstat
 * reports every 0.1 s: its first line (before) shows 0 blocks, and the
 * deltas of the following lines add up to exactly NBLOCKS blocks, unblocks
 * and handoffs (each block frees P 0, taken back after it), no upcall (no
 * standby), one worker.  No time window: reports are read until the blocks
 * add up, then one more report must add nothing; only a sactstat that
 * never counts them all runs into the harness timeout.
 */
TEST(counts_blocks)
{
	char id_arg[32], err[4096], line[512];
	uint64_t v[NCOLS], sum[NCOLS] = { 0 }, id;
	const struct timespec ms = { 0, 1000 * 1000 };
	struct sact_counters cnt;
	struct kgroup g;
	struct child c;
	char *argv[8];
	int fd, i, r, last;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	ASSERT_EQ(0, kg_open(&g));
	ASSERT_EQ(0, kg_register(&g, 0));
	ASSERT_TRUE(kg_acquire(&g, 0, 0));
	id = own_group(_metadata);
	ASSERT_NE(0, id) TH_LOG("no group with tgid %d in sactstat's output",
				getpid());

	snprintf(id_arg, sizeof(id_arg), "%lu", id);
	argv[0] = (char *)sactstat_path();
	argv[1] = "-g";
	argv[2] = id_arg;
	argv[3] = "0.1";
	argv[4] = "1000000";
	argv[5] = NULL;
	ASSERT_EQ(0, child_start(&c, argv));
	ASSERT_NE(NULL, fgets(line, sizeof(line), c.out));
	ASSERT_EQ(0, strcmp(line, header)) TH_LOG("header: %s", line);
	ASSERT_NE(NULL, fgets(line, sizeof(line), c.out));
	ASSERT_TRUE(parse_line(line, v)) TH_LOG("%s", line);
	EXPECT_EQ(id, v[ID]);
	EXPECT_EQ(getpid(), v[TGID]);
	EXPECT_EQ(getuid(), v[UID]);
	EXPECT_EQ(1, v[WRK]);
	EXPECT_EQ(0, v[SBY]);
	EXPECT_EQ(0, v[BLOCKS]);

	for (i = 0; i < NBLOCKS; i++) {
		kg_running(&g, 0, 0);
		nanosleep(&ms, NULL);
		kg_idle(&g, 0);
		/* the block freed P 0 (no standby): take it back */
		EXPECT_TRUE(kg_acquire(&g, 0, 0));
	}
	cnt = kg_counters(&g);
	EXPECT_EQ(NBLOCKS, cnt.blocks);

	/* Every report until the blocks add up, and one more after that. */
	for (r = 1, last = 0; !last; r++) {
		last = sum[BLOCKS] >= NBLOCKS;
		ASSERT_NE(NULL, fgets(line, sizeof(line), c.out))
			TH_LOG("report %d missing", r);
		ASSERT_TRUE(parse_line(line, v)) TH_LOG("%s", line);
		EXPECT_EQ(id, v[ID]);
		EXPECT_EQ(1, v[WRK]);
		for (i = BLOCKS; i < NCOLS; i++)
			sum[i] += v[i];
	}
	kill(c.pid, SIGTERM);
	EXPECT_EQ(128 + SIGTERM, child_wait(&c, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(NBLOCKS, sum[BLOCKS]);
	EXPECT_EQ(NBLOCKS, sum[UNBLOCKS]);
	EXPECT_EQ(NBLOCKS, sum[HANDOFFS]);
	EXPECT_EQ(0, sum[UPCALLS]);
	EXPECT_EQ(0, sum[SPARKS]);
	EXPECT_EQ(0, sum[OVERFLOWS]);
	EXPECT_EQ(0, sum[RECLAIMS]);
	EXPECT_EQ(0, sum[GRANTS]);
	EXPECT_EQ(0, kg_unregister(&g, 0));
	kg_close(&g);
}

KT_TEST_MODULE_REFS_SETTLE

TEST_HARNESS_MAIN
