// SPDX-License-Identifier: GPL-2.0
/*
 * reuse.c - an M index and a thread are reusable at once: the index of a
 * joined thread registers again right after pthread_join() returns; a
 * worker at a reused index inherits nothing of the dead one's slot (its P,
 * its state), so no spurious handoff follows; the image execve put in
 * place of a worker registers in a group of its own at once.
 */
#include <pthread.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "sact_test.h"
#include "kmod_util.h"

#define ROUNDS	50

FIXTURE(reuse) {
	struct kgroup g;
};

FIXTURE_SETUP(reuse)
{
	int fd;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	ASSERT_EQ(0, kg_open(&self->g));
}

FIXTURE_TEARDOWN(reuse)
{
	kg_close(&self->g);
}

/* M 1: register, then exit still registered. */
static void *reg_m1_and_exit(void *p)
{
	return (void *)(intptr_t)kg_register(p, 1);
}

/*
 * A thread registered as M 1 exits without unregistering; as soon as
 * pthread_join() returns, M 1 can be registered again, every time.
 */
TEST_F(reuse, joined_thread_index_is_free)
{
	unsigned int i, ok = 0;
	pthread_t t;
	void *ret;

	for (i = 0; i < ROUNDS; i++) {
		ASSERT_EQ(0, pthread_create(&t, NULL, reg_m1_and_exit,
					    &self->g));
		ASSERT_EQ(0, pthread_join(t, &ret));
		ASSERT_EQ(0, (intptr_t)ret);
		if (kg_register(&self->g, 1) == 0)
			ok++;
		kg_unregister(&self->g, 1);
	}
	EXPECT_EQ(ROUNDS, ok);
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(&self->g, workers) == 0));
}

/* M 1: take P 0, say "G code on P 0", exit like that. */
static void *m1_dies_running(void *p)
{
	struct kgroup *g = p;

	if (kg_register(g, 1) || !kg_acquire(g, 0, 1))
		return (void *)1;
	kg_running(g, 1, 0);
	return NULL;
}

/*
 * The dead M 1 left its slot saying "running G code on P 0", and P 0's
 * word names M 1.  A new thread registered as M 1 starts from a clean
 * slot: when it blocks before it says anything, nothing is handed off.
 */
TEST_F(reuse, reused_index_starts_clean)
{
	struct kgroup *g = &self->g;
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	struct sact_counters c;
	uint32_t never = 0;
	pthread_t t;
	void *ret;

	ASSERT_EQ(0, pthread_create(&t, NULL, m1_dies_running, g));
	ASSERT_EQ(0, pthread_join(t, &ret));
	ASSERT_EQ(NULL, ret);
	/* the old registration gone, whenever the kernel gets to it */
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, workers) == 0));
	EXPECT_EQ(SACT_M_RUNNING, g->ms[1].state);	/* user's last word */

	ASSERT_EQ(0, kg_register(g, 1));
	EXPECT_EQ(SACT_M_IDLE, g->ms[1].state);
	EXPECT_EQ(SACT_NONE, g->ms[1].proc);
	EXPECT_EQ(SACT_NONE, g->ms[1].kproc);
	EXPECT_EQ(SACT_MK_RUNNING, g->ms[1].kstate);
	EXPECT_EQ(kt_gettid(), g->ms[1].tid);
	/* a futex wait with a timeout always sleeps: a block */
	syscall(SYS_futex, &never, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
	c = kg_counters(g);
	EXPECT_EQ(0, c.blocks);
	EXPECT_EQ(0, c.handoffs);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 0));
	EXPECT_EQ(0, kg_unregister(g, 1));
}

/* --exec-register: the new image of a worker; 0 if it registers at once */
static int exec_register(void)
{
	struct kgroup g;
	int ret;

	ret = kg_open(&g);
	if (ret)
		return 100;
	ret = kg_register(&g, 0);
	kg_close(&g);
	return ret == 0 ? 0 : ret == -EALREADY ? 101 : 102;
}

/*
 * A worker (with a P, running G code, blocked a few times) calls execve;
 * the new image opens /dev/sact and registers: it must succeed every
 * time, whether or not the old registration's clean-up ran yet.
 */
TEST(execve_then_register)
{
	unsigned int i, ok = 0, already = 0;
	int fd, st;
	pid_t pid;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	for (i = 0; i < 20; i++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct kgroup g;

			if (kg_open(&g) || kg_register(&g, 0) ||
			    !kg_acquire(&g, 0, 0) || kt_block_once(&g, 0, 0))
				_exit(110);
			kg_running(&g, 0, 0);
			execl("/proc/self/exe", "reuse", "--exec-register",
			      NULL);
			_exit(111);
		}
		ASSERT_EQ(pid, waitpid(pid, &st, 0));
		ASSERT_TRUE(WIFEXITED(st));
		ok += WEXITSTATUS(st) == 0;
		already += WEXITSTATUS(st) == 101;
	}
	EXPECT_EQ(20, ok) TH_LOG("%u of 20 got -EALREADY", already);
}

KT_TEST_MODULE_REFS_SETTLE

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--exec-register"))
		return exec_register();
	return test_harness_run(argc, argv);
}
