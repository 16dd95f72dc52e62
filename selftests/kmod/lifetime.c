// SPDX-License-Identifier: GPL-2.0
/*
 * lifetime.c - workers and groups come and go cleanly: unregister, a worker
 * thread that exits registered, fork (the child has no notifier, no
 * mapping, and -EPERM on the group), execve (no event from the new image,
 * the worker is dropped), kill -9 of a process with registered, blocked,
 * strict-parked workers and parked standbys, and rmmod refused while a
 * worker holds the module.  Each case ends by waiting until the module's
 * reference count is back where it was: vm-suite's final rmmod is the last
 * check that nothing leaked.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "sact_test.h"
#include "kmod_util.h"

#define NEED_DEV()							\
	do {								\
		int __fd;						\
		sact_open_dev_or_skip(_metadata, &__fd);		\
		close(__fd);						\
	} while (0)

TEST(unregister_and_again)
{
	struct kgroup g;

	NEED_DEV();
	ASSERT_EQ(0, kg_open(&g));
	ASSERT_EQ(0, kg_register(&g, 0));
	EXPECT_EQ(kt_gettid(), (pid_t)g.ms[0].tid);
	EXPECT_EQ(SACT_MK_RUNNING, g.ms[0].kstate);
	EXPECT_EQ(-EALREADY, kg_register(&g, 1));
	EXPECT_EQ(-ENOENT, kg_unregister(&g, 1));
	ASSERT_EQ(0, kg_unregister(&g, 0));
	EXPECT_EQ(-ENOENT, kg_unregister(&g, 0));
	EXPECT_EQ(0, g.ms[0].tid);
	EXPECT_EQ(SACT_MK_UNREGISTERED, g.ms[0].kstate);
	EXPECT_EQ(0, KG_COUNTER(&g, workers));

	/* no notifier any more: blocking while "running" is silent */
	ASSERT_TRUE(kg_acquire(&g, 0, 0));
	kg_running(&g, 0, 0);
	kt_sleep_ms(2);
	kg_idle(&g, 0);
	EXPECT_EQ(0, KG_COUNTER(&g, blocks));

	ASSERT_EQ(0, kg_register(&g, 3));
	EXPECT_EQ(1, KG_COUNTER(&g, workers));
	ASSERT_EQ(0, kg_unregister(&g, 3));
	kg_close(&g);
}

struct exiter {
	struct kgroup *g;
	uint32_t m;
	int err;
};

static void *exit_registered(void *p)
{
	struct exiter *e = p;

	e->err = kg_register(e->g, e->m);
	if (e->err)
		return NULL;
	if (!kg_acquire(e->g, e->m, e->m)) {
		e->err = -1;
		return NULL;
	}
	if (kt_block_once(e->g, e->m, e->m))
		e->err = -2;
	kg_running(e->g, e->m, e->m);
	/* exits registered and "running": the kernel cleans up */
	return NULL;
}

TEST(thread_exits_registered)
{
	struct exiter e;
	struct kgroup g;
	pthread_t t;
	int i;

	NEED_DEV();
	ASSERT_EQ(0, kg_open(&g));
	for (i = 0; i < 3; i++) {
		e = (struct exiter){ .g = &g, .m = 1 };
		ASSERT_EQ(0, pthread_create(&t, NULL, exit_registered, &e));
		ASSERT_EQ(0, pthread_join(t, NULL));
		ASSERT_EQ(0, e.err);
		/* freed after the thread's last switch, asynchronously */
		ASSERT_TRUE(kt_wait_until(KG_COUNTER(&g, workers) == 0));
		EXPECT_EQ(SACT_MK_UNREGISTERED, kg_load(&g.ms[1].kstate));
		EXPECT_EQ(i + 1, KG_COUNTER(&g, blocks));
		EXPECT_EQ(i + 1, KG_COUNTER(&g, unblocks));
		/* the P went FREE at the block and stays so */
		EXPECT_EQ(SACT_P_FREE, kg_pword(&g, 1));
	}
	kg_close(&g);
}

TEST(fork_child_is_outside)
{
	struct sact_version v = { .size = sizeof(v) };
	struct kgroup g;
	int status;
	pid_t pid;

	NEED_DEV();
	ASSERT_EQ(0, kg_open(&g));
	ASSERT_EQ(0, kg_register(&g, 0));
	ASSERT_TRUE(kg_acquire(&g, 0, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct sact_worker_args a = { .size = sizeof(a) };
		struct sact_counters c = { .size = sizeof(c) };
		unsigned char vec;
		struct kgroup own;
		void *p;
		int bad = 0;

		/* the group is the parent's */
		bad |= kt_ioctl(g.fd, SACT_IOC_REGISTER, &a) != -EPERM;
		bad |= kt_ioctl(g.fd, SACT_IOC_COUNTERS, &c) != -EPERM;
		bad |= (kg_config(&g, 0, 1) != -EPERM) << 1;
		bad |= (kg_standby(&g) != -EPERM) << 2;
		bad |= (kt_ioctl(g.fd, SACT_IOC_VERSION, &v) != 0) << 3;
		p = mmap(NULL, SACT_SHM_SIZE, PROT_READ, MAP_SHARED, g.fd, 0);
		bad |= (p != MAP_FAILED || errno != EPERM) << 4;
		/* the parent's mapping was not inherited (VM_DONTCOPY) */
		bad |= (mincore(g.shm, 4096, &vec) != -1 || errno != ENOMEM) << 5;
		/* no notifier was inherited: a fresh registration works */
		bad |= (kg_open(&own) != 0) << 6;
		bad |= (kg_register(&own, 0) != 0) << 7;
		kt_sleep_ms(1);
		kt_sleep_ms(1);
		_exit(bad);
	}
	/* the parent blocks while running: its own events only */
	ASSERT_EQ(0, kt_block_once(&g, 0, 0));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(1, KG_COUNTER(&g, blocks));
	EXPECT_EQ(1, KG_COUNTER(&g, workers));
	kg_close(&g);
}

/* --exec-helper FD WFD RFD: the image after execve of a registered thread */
static int exec_helper(char **argv)
{
	int fd = atoi(argv[2]), wfd = atoi(argv[3]), rfd = atoi(argv[4]);
	struct sact_counters c = { .size = sizeof(c) };
	char res = 0, go;
	void *p;
	int i;

	for (i = 0; i < 3; i++)
		kt_sleep_ms(2);		/* blocks; must not be events */
	if (kt_ioctl(fd, SACT_IOC_COUNTERS, &c) != -EPERM)
		res |= 1;
	p = mmap(NULL, SACT_SHM_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED || errno != EPERM)
		res |= 2;
	if (write(wfd, &res, 1) != 1 || read(rfd, &go, 1) != 1)
		return 3;
	return 0;
}

TEST(execve_drops_the_worker)
{
	int up[2], down[2], status;
	long long blocks;
	char res = 99;
	pid_t pid;

	NEED_DEV();
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char a1[16], a2[16], a3[16];
		struct kgroup g;

		if (kg_open(&g) || kg_register(&g, 0) || !kg_acquire(&g, 0, 0))
			_exit(10);
		fcntl(g.fd, F_SETFD, 0);	/* keep the group over execve */
		if (kt_block_once(&g, 0, 0) || !kg_acquire(&g, 0, 0) ||
		    kt_block_once(&g, 0, 0))
			_exit(12);
		kg_running(&g, 0, 0);
		/* still "running G code" in the shared slot: only the mm
		 * check stops events from the new image */
		snprintf(a1, sizeof(a1), "%d", g.fd);
		snprintf(a2, sizeof(a2), "%d", up[1]);
		snprintf(a3, sizeof(a3), "%d", down[0]);
		execl("/proc/self/exe", "lifetime", "--exec-helper", a1, a2,
		      a3, NULL);
		_exit(11);
	}
	ASSERT_EQ(1, read(up[0], &res, 1));
	EXPECT_EQ(0, res);
	/*
	 * The new image has blocked 3 times: the group must not see them
	 * (it would count 5 or more).  It sees the 2 blocks before execve,
	 * and may see one more: execve itself can sleep before it switches
	 * the mm, a real block of the old image.  That one gets no UNBLOCKED:
	 * its task_work runs on the way out of execve, finds the new mm and
	 * detaches the worker instead.
	 */
	EXPECT_EQ(0, kt_debugfs_group(pid, KT_COL_WORKERS));
	blocks = kt_debugfs_group(pid, KT_COL_BLOCKS);
	EXPECT_LE(2, blocks);
	EXPECT_GE(3, blocks);
	EXPECT_EQ(2, kt_debugfs_group(pid, KT_COL_UNBLOCKS));
	ASSERT_EQ(1, write(down[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_TRUE(kt_wait_until(kt_debugfs_group(pid, KT_COL_ID) == -1));
}

/*
 * The victim of kill -9: strict, 2 Ps.  M 4 holds P 1 and blocks forever
 * (P 1 -> standby M 1, which then blocks forever holding it: P 1 -> M 2);
 * M 0 holds P 0 and blocks (P 0 -> M 3), then parks (strict, no P free);
 * M 5 stays a parked standby.  Then it reports and waits to be killed.
 */
static struct kgroup vg;
static uint32_t never;
static atomic_int chain;

static void *victim_blocker(void *p)
{
	uint32_t m = (uintptr_t)p;

	if (kg_register(&vg, m))
		abort();
	kg_force(&vg, 1, m);
	kg_running(&vg, m, 1);
	for (;;)
		kt_futex(&never, FUTEX_WAIT_PRIVATE, 0);
	return NULL;
}

static void *victim_standby(void *p)
{
	uint32_t m = (uintptr_t)p;
	int proc;

	if (kg_register(&vg, m))
		abort();
	proc = kg_standby(&vg);
	if (proc < 0)
		abort();
	/* the first to get P 1 runs "G code" on it and blocks forever */
	if (proc == 1 && atomic_fetch_add(&chain, 1) == 0) {
		kg_running(&vg, m, 1);
		for (;;)
			kt_futex(&never, FUTEX_WAIT_PRIVATE, 0);
	}
	for (;;)
		pause();
	return NULL;
}

static void victim(int wfd)
{
	pthread_t t;
	uintptr_t m;

	if (kg_open(&vg) || kg_config(&vg, SACT_CONFIG_STRICT, 2) ||
	    kg_register(&vg, 0) || !kg_acquire(&vg, 0, 0))
		_exit(10);
	for (m = 1; m <= 3; m++)
		if (pthread_create(&t, NULL, victim_standby, (void *)m))
			_exit(11);
	if (!kt_wait_until(KG_COUNTER(&vg, standbys) == 3))
		_exit(12);
	if (pthread_create(&t, NULL, victim_blocker, (void *)4))
		_exit(13);
	/* M 4 blocks -> a standby takes P 1 and blocks -> the next takes it */
	if (!kt_wait_until(KG_COUNTER(&vg, upcalls) == 2 &&
			   KG_COUNTER(&vg, blocks) == 2))
		_exit(14);
	if (pthread_create(&t, NULL, victim_standby, (void *)5))
		_exit(15);
	if (!kt_wait_until(KG_COUNTER(&vg, standbys) == 2))
		_exit(16);
	kt_block_once(&vg, 0, 0);	/* hands P 0 off, then parks */
	_exit(17);
	(void)wfd;
}

TEST(kill9_with_workers_and_standbys)
{
	int base, status;
	pid_t pid, rep;

	NEED_DEV();
	base = kt_module_refcnt();
	ASSERT_LE(0, base);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		victim(-1);
	/* wait for: 6 workers, 1 standby, 1 strict park, 3 upcalls */
	ASSERT_TRUE(kt_wait_until(
		kt_debugfs_group(pid, KT_COL_WORKERS) == 6 &&
		kt_debugfs_group(pid, KT_COL_STANDBYS) == 1 &&
		kt_debugfs_group(pid, 9) == 1 &&	/* strict_parks */
		kt_debugfs_group(pid, 7) == 3));	/* upcalls */
	rep = waitpid(pid, &status, WNOHANG);
	ASSERT_EQ(0, rep) TH_LOG("victim exited early: %d", WEXITSTATUS(status));
	EXPECT_EQ(3, kt_debugfs_group(pid, KT_COL_BLOCKS));
	EXPECT_EQ(1, kt_debugfs_group(pid, KT_COL_UNBLOCKS));
	EXPECT_LT(base, kt_module_refcnt());
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	/* everything goes: the group, its workers, the module references */
	ASSERT_TRUE(kt_wait_until(kt_debugfs_group(pid, KT_COL_ID) == -1));
	ASSERT_TRUE(kt_wait_until(kt_module_refcnt() <= base));
}

TEST(rmmod_refused_while_a_worker_lives)
{
	int base, status;
	pid_t pid;

	NEED_DEV();
	base = kt_module_refcnt();
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kgroup g;
		long r;

		if (kg_open(&g) || kg_register(&g, 0))
			_exit(10);
		kg_close(&g);		/* the worker still pins the file */
		if (kt_module_refcnt() < 1)
			_exit(11);
		r = syscall(SYS_delete_module, "sact", O_NONBLOCK);
		_exit(r == -1 && errno == EWOULDBLOCK ? 0 : 12);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_TRUE(kt_wait_until(kt_module_refcnt() <= base));
}

KT_TEST_MODULE_REFS_SETTLE

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--exec-helper"))
		return exec_helper(argv);
	return test_harness_run(argc, argv);
}
