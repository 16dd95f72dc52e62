// SPDX-License-Identifier: GPL-2.0
/* backend_name.c - sact_backend_name() names every backend, rejects others. */
#include <string.h>

#include <sact.h>

#include "sact_test.h"

TEST(names)
{
	EXPECT_STREQ("auto", sact_backend_name(SACT_BACKEND_AUTO));
	EXPECT_STREQ("kmod", sact_backend_name(SACT_BACKEND_KMOD));
	EXPECT_STREQ("bpf", sact_backend_name(SACT_BACKEND_BPF));
	EXPECT_STREQ("sysmon", sact_backend_name(SACT_BACKEND_SYSMON));
	EXPECT_STREQ("none", sact_backend_name(SACT_BACKEND_NONE));
}

TEST(out_of_range)
{
	EXPECT_EQ(NULL, sact_backend_name(SACT_BACKEND_NONE + 1));
	EXPECT_EQ(NULL, sact_backend_name((enum sact_backend)-1));
}

TEST_HARNESS_MAIN
