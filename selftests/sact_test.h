/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sact_test.h - helpers shared by the sact selftests (all suites).
 */
#ifndef SACT_TEST_H
#define SACT_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <linux/sact.h>

/*
 * Open /dev/sact.  Where the module is not loaded the test is skipped,
 * unless SACT_REQUIRE_KMOD=1 (set inside the VM, after insmod) makes that a
 * failure: a missing device there is a bug, not a reason to skip.
 */
#define sact_open_dev_or_skip(_metadata, fdp)					\
	do {									\
		*(fdp) = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);			\
		if (*(fdp) < 0 && errno == ENOENT &&				\
		    !(getenv("SACT_REQUIRE_KMOD") &&				\
		      !strcmp(getenv("SACT_REQUIRE_KMOD"), "1")))		\
			SKIP(return, SACT_DEVICE " absent: sact.ko not loaded");\
		ASSERT_LE(0, *(fdp)) TH_LOG("open %s: %s", SACT_DEVICE,	\
					    strerror(errno));			\
	} while (0)

#endif /* SACT_TEST_H */
