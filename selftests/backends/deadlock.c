// SPDX-License-Identifier: GPL-2.0
/*
 * deadlock.c - checkdead under every backend: when every G is parked with
 * nothing that could wake one (here all block for ever on channels and a
 * mutex), the runtime aborts with "sact: all Gs are asleep - deadlock", as
 * Go does.  Under kmod the idle Ms park in the module, not on the futex
 * idle list: they must count as idle all the same.  The run happens in a
 * child process, which must die of SIGABRT with that message; a
 * checkdead that never fires hangs the child, and the harness's timeout
 * fails the test.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sact.h>

#include "sact_test.h"

#define NG	6

static void recv_forever(void *arg)
{
	struct sact_chan *c = arg;
	long v;

	sact_chan_recv(c, &v);	/* nobody will ever send */
}

static void first(void *arg)
{
	struct sact_chan *c = sact_chan_new(sizeof(long), 0);
	struct sact_mutex mu = SACT_MUTEX_INIT;

	(void)arg;
	for (int i = 0; i < NG; i++)
		sact_go(recv_forever, c);
	sact_yield();		/* let them park on c, on any P */
	sact_mutex_lock(&mu);
	sact_mutex_lock(&mu);	/* and this one waits for itself */
}

ST_FIXTURE_NOSTRICT(deadlock);

TEST_F(deadlock, all_asleep_throws)
{
	struct sact_config c = st_config(variant->nprocs, variant->nprocs,
					 variant->backend, variant->flags);
	char msg[4096];
	int status;

	st_run_child(_metadata, &c, first, NULL, &status, msg, sizeof(msg));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3 && !st_in_vm() &&
	    variant->backend == SACT_BACKEND_KMOD)
		SKIP(return, "/dev/sact absent: sact.ko not loaded");
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("exit %d", WEXITSTATUS(status));
	EXPECT_EQ(SIGABRT, WTERMSIG(status));
	EXPECT_NE(NULL, strstr(msg, "sact: all Gs are asleep - deadlock\n"))
		TH_LOG("stderr: %s", msg);
}

TEST_HARNESS_MAIN
