// SPDX-License-Identifier: GPL-2.0
/*
 * errors.c - running out of memory leaves the runtime consistent (sact_go
 * returns -ENOMEM, every G already spawned still runs and exits, sact_run
 * returns); a stack overflow hits the guard page.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

struct oom {
	struct sact_waitgroup gate, exited;
	atomic_long ran;
	long spawned, err, after;
};

static void gated(void *arg)
{
	struct oom *o = arg;

	sact_wg_wait(&o->gate);
	atomic_fetch_add(&o->ran, 1);
	sact_wg_done(&o->exited);
}

static long vsz_bytes(void)
{
	long size = 0, rss;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &rss) != 2)
			size = 0;
		fclose(f);
	}
	return size * sysconf(_SC_PAGESIZE);
}

static void nothing(void *arg)
{
	(void)arg;
}

static void oom_main(void *arg)
{
	struct oom *o = arg;
	struct rlimit old, lim;

	getrlimit(RLIMIT_AS, &old);
	lim = old;
	lim.rlim_cur = vsz_bytes() + (64L << 20);
	setrlimit(RLIMIT_AS, &lim);
	sact_wg_add(&o->gate, 1);
	for (;;) {
		int err;

		sact_wg_add(&o->exited, 1);
		err = sact_go(gated, o);
		if (err) {
			sact_wg_done(&o->exited);
			o->err = err;
			break;
		}
		if (++o->spawned > 10000000)
			break;
	}
	setrlimit(RLIMIT_AS, &old);
	o->after = sact_go(gated, o) == 0;
	if (o->after)
		sact_wg_add(&o->exited, 1);
	sact_wg_done(&o->gate);
	sact_wg_wait(&o->exited);
}

TEST(enomem_keeps_runtime_consistent)
{
	st_native_only();
	struct oom o = { 0 };
	struct sact_config c = st_config(2, -1, SACT_BACKEND_SYSMON, 0);

	if (ST_SANITIZED)
		SKIP(return, "sanitizers reserve address space and abort on OOM");
	ASSERT_EQ(0, sact_run(&c, oom_main, &o));
	EXPECT_EQ(-ENOMEM, o.err);
	EXPECT_LT(100, o.spawned);
	EXPECT_EQ(1, o.after);
	EXPECT_EQ(o.spawned + o.after, atomic_load(&o.ran));
	/* and it runs again afterwards */
	ASSERT_EQ(0, sact_run(&c, nothing, NULL));
}

TEST(first_g_enomem)
{
	st_native_only();
	struct sact_config c = st_config(1, -1, SACT_BACKEND_NONE, 0);

	if (ST_SANITIZED)
		SKIP(return, "sanitizers abort on huge mappings");
	struct rlimit lim = { vsz_bytes() + (16L << 20), RLIM_INFINITY };

	c.stack_size = (size_t)1 << 30;	/* 1 GiB: over the limit */
	ASSERT_EQ(0, setrlimit(RLIMIT_AS, &lim));	/* in this test's fork */
	EXPECT_EQ(-ENOMEM, sact_run(&c, nothing, NULL));
}


/* One frame of 66 KiB: past a 64 KiB stack, into (not past) its guard. */
static __attribute__((noinline)) void big_frame(volatile char *out)
{
	volatile char big[66 * 1024];

	big[0] = 1;
	*out = big[0];
}

static void one_big_frame(void *arg)
{
	char c;

	(void)arg;
	big_frame(&c);
}

#define OVERFLOW_MSG "sact: G stack overflow: a frame ran past the bottom " \
		     "of a 64 KiB G stack (raise sact_config.stack_size)\n"

TEST(stack_overflow_hits_guard)
{
	st_native_only();
	char msg[4096];
	int status;

	if (ST_SANITIZED)
		SKIP(return, "sanitizers handle SIGSEGV themselves");
	st_run_child(_metadata, NULL, st_overflow, NULL, &status, msg,
		     sizeof(msg));
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGABRT, WTERMSIG(status));
	EXPECT_NE(NULL, strstr(msg, OVERFLOW_MSG)) TH_LOG("stderr: %s", msg);
}

TEST(a_66k_frame_is_caught)
{
	st_native_only();
	char msg[4096];
	int status;

	if (ST_SANITIZED)
		SKIP(return, "sanitizers handle SIGSEGV themselves");
	st_run_child(_metadata, NULL, one_big_frame, NULL, &status, msg,
		     sizeof(msg));
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGABRT, WTERMSIG(status));
	EXPECT_NE(NULL, strstr(msg, OVERFLOW_MSG)) TH_LOG("stderr: %s", msg);
}

/* A fault that is not an overflow still kills with SIGSEGV. */
static void null_store(void *arg)
{
	*(volatile int *)arg = 1;
}

TEST(other_faults_stay_sigsegv)
{
	st_native_only();
	char msg[4096];
	int status;

	st_run_child(_metadata, NULL, null_store, NULL, &status, msg,
		     sizeof(msg));
	if (ST_SANITIZED) {	/* they report, then exit their own way */
		EXPECT_TRUE(WIFSIGNALED(status) || WEXITSTATUS(status) != 0);
	} else {
		ASSERT_TRUE(WIFSIGNALED(status));
		EXPECT_EQ(SIGSEGV, WTERMSIG(status));
	}
	EXPECT_EQ(NULL, strstr(msg, "stack overflow")) TH_LOG("%s", msg);
}

TEST_HARNESS_MAIN
