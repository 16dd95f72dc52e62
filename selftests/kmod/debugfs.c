// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs.c - /sys/kernel/debug/sact/groups shows each group's process as
 * the reader's pid namespace numbers it: a group opened by pid 1 of a
 * child pid namespace is listed under the pid the test (in the initial
 * namespace) knows it by, not as "1".
 */
#include <sched.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "sact_test.h"
#include "kmod_util.h"

/* In a new pid namespace, as its pid 1: open a group, report, wait. */
static int ns_child(int pid_fd, int wfd, int rfd)
{
	pid_t init;
	int st;
	char c;

	if (unshare(CLONE_NEWPID))
		return 10;
	init = fork();		/* pid 1 of the new namespace */
	if (init < 0)
		return 11;
	if (init == 0) {
		int fd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);

		if (fd < 0 || getpid() != 1)
			_exit(12);
		c = 'o';
		if (write(wfd, &c, 1) != 1 || read(rfd, &c, 1) != 1)
			_exit(13);
		_exit(0);
	}
	/* its pid here, in the test's namespace */
	if (write(pid_fd, &init, sizeof(init)) != sizeof(init))
		return 14;
	if (waitpid(init, &st, 0) != init || !WIFEXITED(st))
		return 15;
	return WEXITSTATUS(st);
}

TEST(tgid_in_the_readers_pid_namespace)
{
	int up[2], down[2], pids[2], fd, st;
	pid_t pid, init = 0;
	char c = 0;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	if (geteuid())
		SKIP(return, "needs root (a pid namespace, debugfs)");
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	ASSERT_EQ(0, pipe(pids));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(ns_child(pids[1], up[1], down[0]));
	ASSERT_EQ(sizeof(init), read(pids[0], &init, sizeof(init)));
	ASSERT_EQ(1, read(up[0], &c, 1));	/* its group is open */
	EXPECT_LT(0, kt_debugfs_group(init, KT_COL_ID))
		TH_LOG("no group listed under tgid %d", init);
	EXPECT_EQ(-1, kt_debugfs_group(1, KT_COL_ID));	/* not under "1" */
	ASSERT_EQ(1, write(down[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST_HARNESS_MAIN
