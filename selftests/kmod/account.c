// SPDX-License-Identifier: GPL-2.0
/*
 * account.c - a group's memory is charged to the memory cgroup of the task
 * that makes it allocate: NGROUPS groups at the largest cap (their shared
 * areas alone some 1 MiB each) raise the cgroup's memory.current by at
 * least their areas' size, and a cgroup limited below that refuses them
 * (-ENOMEM) instead of letting the kernel hand out memory it never counts.
 *
 * The same for NDEFAULT groups of the default layout, which any module
 * version allocates at open (so this one also runs against an old one).
 *
 * Root only: a child cgroup of the cgroup2 root (mounted if need be), with
 * the memory controller; the measuring process moves itself into it.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "sact_test.h"
#include "kmod_util.h"

#define NGROUPS	8

static long long cg_read(const char *dir, const char *file)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* A group with the largest cap: its fd, or -errno. */
static int big_group(void)
{
	struct sact_group_config c = { .size = sizeof(c), .nr_procs = 1,
				       .max_workers = SACT_WORKERS_LIMIT };
	int fd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = kt_ioctl(fd, SACT_IOC_CONFIG, &c);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

FIXTURE(acct) {
	char dir[128];
};

FIXTURE_SETUP(acct)
{
	int fd;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	if (geteuid())
		SKIP(return, "needs root (a memory cgroup)");
	ASSERT_EQ(0, kt_cgroup_mounted());
	ASSERT_EQ(0, kt_write_file(KT_CGROOT, "cgroup.subtree_control",
				 "+memory"));
	snprintf(self->dir, sizeof(self->dir), KT_CGROOT "/sact-acct-%d",
		 getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
}

FIXTURE_TEARDOWN(acct)
{
	if (self->dir[0])
		rmdir(self->dir);
}

/* Run fn in a child moved into the cgroup; its exit status. */
static int in_cgroup(const char *dir, int (*fn)(const char *))
{
	char pid[16];
	int st;
	pid_t p = fork();

	if (p < 0)
		return -1;
	if (p == 0) {
		snprintf(pid, sizeof(pid), "%d", getpid());
		if (kt_write_file(dir, "cgroup.procs", pid))
			_exit(100);
		_exit(fn(dir));
	}
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* 0: NGROUPS areas raised memory.current by at least their size. */
static int charge_groups(const char *dir)
{
	long long before = cg_read(dir, "memory.current"), after;
	int fds[NGROUPS], i;

	for (i = 0; i < NGROUPS; i++) {
		fds[i] = big_group();
		if (fds[i] < 0)
			return 101;
	}
	after = cg_read(dir, "memory.current");
	if (before < 0 || after < 0)
		return 102;
	return after - before >= NGROUPS * (long long)
			SACT_SHM_SIZE_FOR(SACT_WORKERS_LIMIT) ? 0 : 1;
}

TEST_F(acct, areas_charged_to_the_cgroup)
{
	EXPECT_EQ(0, in_cgroup(self->dir, charge_groups));
}

#define NDEFAULT	200

/*
 * 0: NDEFAULT groups with the default layout (as any module version makes
 * them at open, no CONFIG) raised memory.current by at least their 16 KiB
 * areas: 3.2 MiB, far above what the cgroup's per-CPU charge batches
 * (64 pages a CPU) could account for without them.
 */
static int charge_default_groups(const char *dir)
{
	long long before = cg_read(dir, "memory.current"), after;
	int i, fd;

	for (i = 0; i < NDEFAULT; i++) {
		fd = open(SACT_DEVICE, O_RDWR);	/* kept open until exit */
		if (fd < 0)
			return 101;
	}
	after = cg_read(dir, "memory.current");
	if (before < 0 || after < 0)
		return 102;
	return after - before >= NDEFAULT * (long long)SACT_SHM_SIZE ? 0 : 1;
}

static unsigned int read_cap(void)
{
	unsigned int v = 0;
	FILE *f = fopen("/sys/module/sact/parameters/max_groups_per_user",
			"re");

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

TEST_F(acct, default_areas_charged_to_the_cgroup)
{
	const char *param = "/sys/module/sact/parameters";
	unsigned int cap = read_cap();
	char val[16];

	ASSERT_LT(0, cap);
	ASSERT_EQ(0, kt_write_file(param, "max_groups_per_user", "1000"));
	EXPECT_EQ(0, in_cgroup(self->dir, charge_default_groups));
	snprintf(val, sizeof(val), "%u", cap);
	EXPECT_EQ(0, kt_write_file(param, "max_groups_per_user", val));
}

/* 0: under a limit of a few areas, one of NGROUPS is refused -ENOMEM. */
static int refuse_groups(const char *dir)
{
	char max[32];
	int fds[NGROUPS], i, ret = 1;

	snprintf(max, sizeof(max), "%lld", cg_read(dir, "memory.current") +
		 3 * (long long)SACT_SHM_SIZE_FOR(SACT_WORKERS_LIMIT));
	if (kt_write_file(dir, "memory.max", max))
		return 103;
	for (i = 0; i < NGROUPS; i++) {
		fds[i] = big_group();
		if (fds[i] == -ENOMEM) {
			ret = 0;
			break;
		}
		if (fds[i] < 0)
			return 104;
	}
	return ret;
}

TEST_F(acct, a_limited_cgroup_refuses_groups)
{
	EXPECT_EQ(0, in_cgroup(self->dir, refuse_groups));
}

TEST_HARNESS_MAIN
