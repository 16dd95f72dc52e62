// SPDX-License-Identifier: GPL-2.0
/*
 * device.c - /dev/sact exists, opens, and answers the version ioctl with the
 * size rules every sact ioctl follows (too small: -EINVAL; larger with a
 * non-zero tail: -E2BIG; larger with a zero tail: accepted).
 */
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/sact.h>

#include "sact_test.h"

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	sact_open_dev_or_skip(_metadata, &self->fd);
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(dev, is_a_misc_char_device)
{
	struct stat st;

	ASSERT_EQ(0, fstat(self->fd, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(10, major(st.st_rdev));	/* MISC_MAJOR */
}

TEST_F(dev, version)
{
	struct sact_version v = { .size = sizeof(v) };

	ASSERT_EQ(0, ioctl(self->fd, SACT_IOC_VERSION, &v));
	EXPECT_EQ(SACT_ABI_VERSION, v.abi);
	EXPECT_EQ(sizeof(v), v.size);
}

TEST_F(dev, version_size_rules)
{
	struct {
		struct sact_version v;
		__u32 tail[4];
	} big = { .v.size = sizeof(big) };
	struct sact_version small = { .size = sizeof(small) - 1 };

	EXPECT_EQ(-1, ioctl(self->fd, SACT_IOC_VERSION, &small));
	EXPECT_EQ(EINVAL, errno);

	ASSERT_EQ(0, ioctl(self->fd, SACT_IOC_VERSION, &big));
	EXPECT_EQ(SACT_ABI_VERSION, big.v.abi);

	big.v.size = sizeof(big);
	big.tail[3] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, SACT_IOC_VERSION, &big));
	EXPECT_EQ(E2BIG, errno);

	EXPECT_EQ(-1, ioctl(self->fd, SACT_IOC_VERSION, NULL));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(dev, unknown_ioctl_is_enotty)
{
	EXPECT_EQ(-1, ioctl(self->fd, _IO(SACT_IOC_MAGIC, 0xff)));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IO('x', 0)));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_HARNESS_MAIN
