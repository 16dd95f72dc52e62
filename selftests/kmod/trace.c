// SPDX-License-Identifier: GPL-2.0
/*
 * trace.c - the module's tracepoints, read through tracefs: a handoff in
 * a strict group produces its events, with their fields, in causal order:
 *
 *   sact_block(M 0, P 0) -> sact_handoff(M 0, P 0, to M 1)
 *     -> sact_standby_wake(M 1, P 0)                  (the irq_work)
 *     -> sact_unblock(M 0, P 0, parked) -> sact_park(M 0)  (M 0 runs again)
 *   then M 1 grants P 0 back:
 *     sact_grant(from M 1, M 0, P 0) -> sact_standby_wake(M 0, P 0)
 *     -> sact_park_end(M 0, P 0)
 *
 * The two middle branches are unordered with each other (the irq_work and
 * the woken M 0 may run on different CPUs); every other pair is ordered by
 * cause, and the trace clock is "global", so the order in the trace file
 * is the order of events.  Only this process's events count (a filter on
 * tgid).  Root only; tracefs is mounted if it is not.  sactstat -t prints
 * the same events live.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "sact_test.h"
#include "kmod_util.h"

#define TRACEFS	"/sys/kernel/tracing"
/* our own buffer: recording on, only the events enabled here (the guest
 * keeps the global one off, scripts/vm-setup probes) */
#define TRACEI	TRACEFS "/instances/sact-kselftest"

static int tfs_write(const char *file, const char *val)
{
	return kt_write_file(TRACEI, file, val);
}

/* tracefs with the sact events, mounted if need be: 0 or -errno */
static int tfs_ready(void)
{
	struct stat st;

	if (stat(TRACEFS "/trace", &st) &&
	    mount("nodev", TRACEFS, "tracefs", 0, NULL))
		return -errno;
	if (mkdir(TRACEI, 0755) && errno != EEXIST)
		return -errno;
	return stat(TRACEI "/events/sact", &st) ? -errno : 0;
}

struct tev {
	char name[32];
	unsigned int worker, proc, to, from, parked, standby;
};

#define MAX_TEV	64

/* Parse the sact events of the trace file into @ev; how many. */
static int tfs_read(struct tev *ev, int max)
{
	FILE *f = fopen(TRACEI "/trace", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < max) {
		char *p = strstr(line, ": sact_");
		struct tev *e = &ev[n];
		char *q;

		if (line[0] == '#' || !p)
			continue;
		memset(e, 0xff, sizeof(*e));
		if (sscanf(p + 2, "%31[a-z_]:", e->name) != 1)
			continue;
#define FIELD(f)							\
		q = strstr(p, " " #f "=");				\
		if (q)							\
			e->f = strtoul(q + strlen(" " #f "="), NULL, 10)
		FIELD(worker);
		FIELD(proc);
		FIELD(to);
		FIELD(from);
		FIELD(parked);
		FIELD(standby);
#undef FIELD
		n++;
	}
	fclose(f);
	return n;
}

/* Index of the first event @name of worker @w at or after @from, or -1. */
static int tev_find(struct tev *ev, int n, int from, const char *name,
		    unsigned int w)
{
	int i;

	for (i = from; i < n; i++)
		if (!strcmp(ev[i].name, name) && ev[i].worker == w)
			return i;
	return -1;
}

struct m1 {
	struct kgroup *g;
	int ret, grant_ret;
	pthread_t t;
};

/* Standby M 1 (registers): one STANDBY. */
static void *m1_standby_only(void *p)
{
	struct m1 *s = p;

	if (kg_register(s->g, 1))
		abort();
	s->ret = kg_standby(s->g);
	return NULL;
}

/* Standby M 1: gets P 0 from M 0's block; grants it back once M 0 parks. */
static void *m1_main(void *p)
{
	struct m1 *s = p;

	if (kg_register(s->g, 1))
		abort();
	s->ret = kg_standby(s->g);
	if (s->ret != 0)
		return NULL;
	if (!kt_wait_until(kg_load(&s->g->ms[0].kstate) == SACT_MK_PARKED)) {
		s->grant_ret = -ETIMEDOUT;
		return NULL;
	}
	s->grant_ret = kg_grant(s->g, 0, 0);
	return NULL;
}

FIXTURE(tr) {
	struct kgroup g;
	bool enabled;
};

FIXTURE_SETUP(tr)
{
	char filter[64];
	int ret;

	KG_SETUP_WORKER0(&self->g);
	if (geteuid())
		SKIP(return, "tracefs needs root");
	/* the module is loaded (or we skipped above): its events must be */
	ret = tfs_ready();
	ASSERT_EQ(0, ret) TH_LOG("tracefs events/sact: %s", strerror(-ret));
	ASSERT_EQ(0, tfs_write("events/sact/enable", "0"));
	snprintf(filter, sizeof(filter), "tgid == %d", getpid());
	ASSERT_EQ(0, tfs_write("events/sact/filter", filter));
	ASSERT_EQ(0, tfs_write("trace_clock", "global"));
	ASSERT_EQ(0, tfs_write("trace", ""));
	ASSERT_EQ(0, tfs_write("events/sact/enable", "1"));
	self->enabled = true;
}

FIXTURE_TEARDOWN(tr)
{
	if (self->enabled) {
		tfs_write("events/sact/enable", "0");
		tfs_write("events/sact/filter", "0");
		tfs_write("trace_clock", "local");
	}
	rmdir(TRACEI);
	kg_close(&self->g);
}

TEST_F(tr, handoff_events_in_order)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g, .ret = -1000 };
	struct tev ev[MAX_TEV];
	int n, blk, hof, wk1, unb, prk, gra, wk0, end;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 1));
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_main, &s));
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1));
	ASSERT_EQ(0, kt_block_once(g, 0, 0));	/* returns once granted */
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	ASSERT_EQ(0, s.ret);
	ASSERT_EQ(0, s.grant_ret);
	ASSERT_EQ(0, tfs_write("events/sact/enable", "0"));

	n = tfs_read(ev, MAX_TEV);
	ASSERT_EQ(8, n) {
		int i;

		for (i = 0; i < n; i++)
			TH_LOG("event %d: %s worker %u", i, ev[i].name,
			       ev[i].worker);
	}
	blk = tev_find(ev, n, 0, "sact_block", 0);
	hof = tev_find(ev, n, 0, "sact_handoff", 0);
	wk1 = tev_find(ev, n, 0, "sact_standby_wake", 1);
	unb = tev_find(ev, n, 0, "sact_unblock", 0);
	prk = tev_find(ev, n, 0, "sact_park", 0);
	gra = tev_find(ev, n, 0, "sact_grant", 0);
	wk0 = tev_find(ev, n, 0, "sact_standby_wake", 0);
	end = tev_find(ev, n, 0, "sact_park_end", 0);
	ASSERT_EQ(0, blk);
	ASSERT_EQ(1, hof);
	ASSERT_LT(hof, wk1);
	ASSERT_LT(hof, unb);
	ASSERT_LT(unb, prk);
	ASSERT_LT(wk1, gra);
	ASSERT_LT(prk, gra);
	ASSERT_LT(gra, wk0);
	ASSERT_LT(wk0, end);

	EXPECT_EQ(0, ev[blk].proc);
	EXPECT_EQ(0, ev[hof].proc);
	EXPECT_EQ(1, ev[hof].to);
	EXPECT_EQ(0, ev[wk1].proc);
	EXPECT_EQ(0, ev[unb].proc);		/* the P its block took */
	EXPECT_EQ(SACT_NONE, ev[unb].to);	/* none given back yet */
	EXPECT_EQ(1, ev[unb].parked);
	EXPECT_EQ(1, ev[gra].from);
	EXPECT_EQ(0, ev[gra].proc);
	EXPECT_EQ(0, ev[gra].standby);
	EXPECT_EQ(0, ev[wk0].proc);
	EXPECT_EQ(0, ev[end].proc);
}

/* A worker running no G code blocks unseen: no event at all. */
TEST_F(tr, idle_blocks_are_not_traced)
{
	struct tev ev[MAX_TEV];

	kg_idle(&self->g, 0);
	kt_sleep_ms(2);
	ASSERT_EQ(0, tfs_write("events/sact/enable", "0"));
	EXPECT_EQ(0, tfs_read(ev, MAX_TEV));
	EXPECT_EQ(0, KG_COUNTER(&self->g, blocks));
}

/*
 * sactstat -t: the same events as a live timeline.  It runs (from the
 * build tree: ../../tools/sactstat beside this binary's directory) with
 * -g our group; once its header is out, a handoff to a standby prints a
 * sact_block, a sact_handoff and a sact_standby_wake line; SIGINT ends it
 * with status 0 and the events disabled.
 */
TEST_F(tr, sactstat_trace_timeline)
{
	struct kgroup *g = &self->g;
	struct m1 s = { .g = g, .ret = -1000 };
	char exe[512], tool[600], gid[32], line[512];
	int out[2], st, seen = 0;
	long long id;
	FILE *f;
	pid_t pid;
	char *slash;

	ASSERT_EQ(0, tfs_write("events/sact/enable", "0"));
	ASSERT_LT(0, readlink("/proc/self/exe", exe, sizeof(exe) - 1));
	exe[sizeof(exe) - 1] = '\0';
	slash = strrchr(exe, '/');
	ASSERT_NE(NULL, slash);
	*slash = '\0';
	snprintf(tool, sizeof(tool), "%s/../../tools/sactstat", exe);
	if (access(tool, X_OK))
		SKIP(return, "no %s (not the build tree)", tool);
	id = kt_debugfs_group(getpid(), KT_COL_ID);
	ASSERT_LT(0, id);
	snprintf(gid, sizeof(gid), "%lld", id);
	ASSERT_EQ(0, pipe(out));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		execl(tool, "sactstat", "-t", "-g", gid, NULL);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(line, sizeof(line), f));	/* the header */
	EXPECT_NE(NULL, strstr(line, "event"));

	/* not strict: M 0 blocks, its P goes to standby M 1 */
	s.g = g;
	ASSERT_EQ(0, pthread_create(&s.t, NULL, m1_standby_only, &s));
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1));
	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	ASSERT_EQ(0, s.ret);
	while (seen != 7 && fgets(line, sizeof(line), f)) {
		if (strstr(line, "sact_block: ") && strstr(line, " worker=0"))
			seen |= 1;
		if (strstr(line, "sact_handoff: ") && strstr(line, " to=1"))
			seen |= 2;
		if (strstr(line, "sact_standby_wake: ") &&
		    strstr(line, " worker=1"))
			seen |= 4;
	}
	EXPECT_EQ(7, seen);
	kill(pid, SIGINT);
	/* read to its end: it may print more events before it stops */
	while (fgets(line, sizeof(line), f))
		;
	fclose(f);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	self->enabled = false;		/* sactstat disabled them */
	tfs_write("trace_clock", "local");
}

TEST_HARNESS_MAIN
