// SPDX-License-Identifier: GPL-2.0
/*
 * badinput.c - every ioctl and mmap rejects bad input with its documented
 * errno; the caps (standbys are in handoff.c) hold; two groups of two
 * processes see nothing of each other.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "sact_test.h"
#include "kmod_util.h"

FIXTURE(bad) {
	struct kgroup g;
};

FIXTURE_SETUP(bad)
{
	int fd;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	ASSERT_EQ(0, kg_open(&self->g));
}

FIXTURE_TEARDOWN(bad)
{
	kg_close(&self->g);
}

static const struct {
	const char *name;
	unsigned long cmd;
	uint32_t size;
} cmds[] = {
	{ "CONFIG", SACT_IOC_CONFIG, SACT_CONFIG_SIZE_VER0 },
	{ "REGISTER", SACT_IOC_REGISTER, sizeof(struct sact_worker_args) },
	{ "UNREGISTER", SACT_IOC_UNREGISTER, sizeof(struct sact_worker_args) },
	{ "STANDBY", SACT_IOC_STANDBY, sizeof(struct sact_standby) },
	{ "GRANT", SACT_IOC_GRANT, SACT_GRANT_SIZE_VER0 },
	{ "COUNTERS", SACT_IOC_COUNTERS, sizeof(struct sact_counters) },
	{ "VERSION", SACT_IOC_VERSION, sizeof(struct sact_version) },
};

/* Size rules, shared by all: short -EINVAL, NULL -EFAULT, dirty tail -E2BIG */
TEST_F(bad, size_rules_of_every_ioctl)
{
	uint32_t buf[64];
	unsigned int i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = cmds[i].size - 1;
		EXPECT_EQ(-EINVAL, kt_ioctl(self->g.fd, cmds[i].cmd, buf))
			TH_LOG("%s short", cmds[i].name);
		buf[0] = 0;
		EXPECT_EQ(-EINVAL, kt_ioctl(self->g.fd, cmds[i].cmd, buf))
			TH_LOG("%s zero", cmds[i].name);
		EXPECT_EQ(-EFAULT, kt_ioctl(self->g.fd, cmds[i].cmd, NULL))
			TH_LOG("%s NULL", cmds[i].name);
		EXPECT_EQ(-EFAULT, kt_ioctl(self->g.fd, cmds[i].cmd,
					    (void *)16))
			TH_LOG("%s bad pointer", cmds[i].name);
		buf[0] = sizeof(buf);
		buf[63] = 1;
		EXPECT_EQ(-E2BIG, kt_ioctl(self->g.fd, cmds[i].cmd, buf))
			TH_LOG("%s dirty tail", cmds[i].name);
		/* huge size, tail past the page: -E2BIG or -EFAULT, no crash */
		buf[0] = 0x7fffffff;
		EXPECT_GT(0, kt_ioctl(self->g.fd, cmds[i].cmd, buf));
	}
}

TEST_F(bad, larger_struct_with_zero_tail_is_accepted)
{
	struct {
		struct sact_counters c;
		uint64_t tail[3];
	} big = { .c.size = sizeof(big) };

	ASSERT_EQ(0, kt_ioctl(self->g.fd, SACT_IOC_COUNTERS, &big));
	EXPECT_EQ(sizeof(struct sact_counters), big.c.size);
	EXPECT_EQ(0, big.c.workers);
}

TEST_F(bad, unknown_commands)
{
	uint32_t buf[16] = { 16 * 4 };

	EXPECT_EQ(-ENOTTY, kt_ioctl(self->g.fd, _IO(SACT_IOC_MAGIC, 0x07), buf));
	EXPECT_EQ(-ENOTTY, kt_ioctl(self->g.fd,
		  _IOWR(SACT_IOC_MAGIC, 0x07, struct sact_counters), buf));
	/* a known number of another type (size and direction: see abi.c) */
	EXPECT_EQ(-ENOTTY, kt_ioctl(self->g.fd,
		  _IOW(SACT_IOC_MAGIC + 1, 0x02, struct sact_worker_args), buf));
	EXPECT_EQ(-ENOTTY, kt_ioctl(self->g.fd, _IO('T', 1), buf));
}

TEST_F(bad, flags_reserved_indexes)
{
	struct sact_group_config c = { .size = sizeof(c), .nr_procs = 1 };
	struct sact_worker_args a = { .size = sizeof(a) };
	struct sact_standby s = { .size = sizeof(s) };
	struct sact_grant gr = { .size = sizeof(gr) };
	struct sact_counters k = { .size = sizeof(k) };
	int fd = self->g.fd;

	c.flags = 4;		/* after STRICT and POOL */
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_CONFIG, &c));
	c.flags = 0x80000000;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_CONFIG, &c));
	c.flags = 0;
	c.__reserved = 1;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_CONFIG, &c));
	c.__reserved = 0;
	c.nr_procs = 0;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_CONFIG, &c));
	c.nr_procs = SACT_MAX_PROCS + 1;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_CONFIG, &c));
	c.nr_procs = SACT_MAX_PROCS;
	EXPECT_EQ(0, kt_ioctl(fd, SACT_IOC_CONFIG, &c));
	EXPECT_EQ(SACT_MAX_PROCS, self->g.hdr->nr_procs);

	a.flags = 1;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_REGISTER, &a));
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_UNREGISTER, &a));
	a.flags = 0;
	a.__reserved = 7;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_REGISTER, &a));
	a.__reserved = 0;
	a.worker = SACT_MAX_WORKERS;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_REGISTER, &a));
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_UNREGISTER, &a));
	a.worker = SACT_NONE;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_REGISTER, &a));

	s.flags = 1;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_STANDBY, &s));
	s.flags = 0;
	EXPECT_EQ(-ENOENT, kt_ioctl(fd, SACT_IOC_STANDBY, &s));	/* no worker */

	gr.flags = 2;		/* after SACT_GRANT_STANDBY */
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_GRANT, &gr));
	gr.flags = 0;
	gr.seq = 1;		/* only with SACT_GRANT_STANDBY */
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_GRANT, &gr));
	gr.seq = 0;
	gr.__reserved = 1;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_GRANT, &gr));
	gr.__reserved = 0;
	gr.worker = SACT_MAX_WORKERS;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_GRANT, &gr));
	gr.worker = 0;
	gr.proc = SACT_MAX_PROCS;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_GRANT, &gr));
	ASSERT_EQ(0, kg_config(&self->g, 0, 2));
	gr.proc = 2;			/* >= nr_procs */
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_GRANT, &gr));
	gr.proc = 1;
	EXPECT_EQ(-ENOENT, kt_ioctl(fd, SACT_IOC_GRANT, &gr));	/* no M 0 */
	ASSERT_EQ(0, kg_register(&self->g, 0));
	EXPECT_EQ(-EAGAIN, kt_ioctl(fd, SACT_IOC_GRANT, &gr));	/* not waiting */

	k.flags = 1;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, SACT_IOC_COUNTERS, &k));
	EXPECT_EQ(0, KG_COUNTER(&self->g, grants));
}

static void *register_m5(void *p)
{
	int ret = kg_unregister(p, 5);	/* M 5 is not this thread */

	if (ret != -ENOENT)
		return (void *)(intptr_t)(ret - 1000);
	return (void *)(intptr_t)kg_register(p, 5);
}

TEST_F(bad, register_conflicts)
{
	pthread_t t;
	void *ret;

	ASSERT_EQ(0, kg_register(&self->g, 5));
	ASSERT_EQ(0, pthread_create(&t, NULL, register_m5, &self->g));
	ASSERT_EQ(0, pthread_join(t, &ret));
	EXPECT_EQ(-EBUSY, (intptr_t)ret);
	EXPECT_EQ(-EALREADY, kg_register(&self->g, 6));
	EXPECT_EQ(1, KG_COUNTER(&self->g, workers));
}

/* A second group: current is a worker of the first, so -EALREADY. */
TEST_F(bad, one_registration_per_thread)
{
	struct kgroup g2;

	ASSERT_EQ(0, kg_register(&self->g, 0));
	ASSERT_EQ(0, kg_open(&g2));
	EXPECT_EQ(-EALREADY, kg_register(&g2, 0));
	ASSERT_EQ(0, kg_unregister(&self->g, 0));
	EXPECT_EQ(0, kg_register(&g2, 0));
	kg_close(&g2);
}

/* The cap on workers is the M index space: all SACT_MAX_WORKERS slots. */
static atomic_int reg_ok, reg_go;

static void *reg_and_wait(void *p)
{
	struct kgroup *g = ((void **)p)[0];
	uint32_t m = (uintptr_t)((void **)p)[1];

	if (!kg_register(g, m))
		atomic_fetch_add(&reg_ok, 1);
	while (!atomic_load(&reg_go))
		usleep(1000);
	return NULL;
}

TEST_F(bad, all_worker_slots)
{
	static void *args[SACT_MAX_WORKERS][2];
	pthread_t t[SACT_MAX_WORKERS];
	uintptr_t m;

	for (m = 0; m < SACT_MAX_WORKERS; m++) {
		args[m][0] = &self->g;
		args[m][1] = (void *)m;
		ASSERT_EQ(0, pthread_create(&t[m], NULL, reg_and_wait, args[m]));
	}
	ASSERT_TRUE(kt_wait_until(atomic_load(&reg_ok) == SACT_MAX_WORKERS));
	EXPECT_EQ(SACT_MAX_WORKERS, KG_COUNTER(&self->g, workers));
	atomic_store(&reg_go, 1);
	for (m = 0; m < SACT_MAX_WORKERS; m++)
		pthread_join(t[m], NULL);
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(&self->g, workers) == 0));
}

TEST_F(bad, mmap_rules)
{
	long ps = sysconf(_SC_PAGESIZE);
	void *p;

	p = mmap(NULL, ps, PROT_READ, MAP_SHARED, self->g.fd, ps);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, SACT_SHM_SIZE + ps, PROT_READ, MAP_SHARED,
		 self->g.fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, ps, PROT_READ | PROT_EXEC, MAP_SHARED, self->g.fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	/* a smaller mapping is fine, and cannot become executable */
	p = mmap(NULL, ps, PROT_READ, MAP_SHARED, self->g.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(SACT_SHM_SIZE, ((struct sact_shm_header *)p)->size);
	EXPECT_EQ(SACT_ABI_VERSION, ((struct sact_shm_header *)p)->abi);
	EXPECT_EQ(-1, mprotect(p, ps, PROT_READ | PROT_EXEC));
	munmap(p, ps);
	/* the layout the header announces */
	EXPECT_EQ(SACT_MAX_PROCS, self->g.hdr->max_procs);
	EXPECT_EQ(SACT_MAX_WORKERS, self->g.hdr->max_workers);
	EXPECT_EQ(SACT_SHM_PROCS_OFFSET, self->g.hdr->procs_offset);
	EXPECT_EQ(SACT_SHM_WORKERS_OFFSET, self->g.hdr->workers_offset);
	EXPECT_EQ(0, self->g.hdr->__reserved0);	/* ABI 1's ring */
	EXPECT_EQ(0, self->g.hdr->__reserved1);
	EXPECT_EQ(SACT_P_FREE, self->g.procs[0].word);
	EXPECT_EQ(SACT_NONE, self->g.ms[0].proc);
}

static unsigned int read_param(const char *name)
{
	char path[128];
	unsigned int v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/sact/parameters/%s", name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* Groups per user: a fresh uid gets exactly the cap, then -EMFILE. */
TEST(groups_per_user_cap)
{
	unsigned int cap = read_param("max_groups_per_user");
	int status, fd;
	pid_t pid;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	ASSERT_LT(0, cap);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned int n = 0;
		int fds[1024], last;

		if (setuid(4242))
			_exit(10);
		while (n < 1024 && (fds[n] = open(SACT_DEVICE, O_RDWR)) >= 0)
			n++;
		if (n != cap || errno != EMFILE)
			_exit(11);
		close(fds[0]);
		last = open(SACT_DEVICE, O_RDWR);
		if (last < 0)
			_exit(12);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -1;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -1;
	close(fd);
	return ret;
}

#define NS_CAP	3

/*
 * In a user namespace (made by B, a child of the test: its owner is
 * root), NS_CAP + 1 processes with as many different uids, each mapped
 * to its own uid outside, open a group each: the cap counts them against
 * the namespace's owner, so the last gets EMFILE.  B's exit status says
 * how many opens succeeded (and 100 + errno class on setup failure).
 */
static int userns_opener(int up_fd, int go_fd)
{
	pid_t kids[NS_CAP + 1];
	int res[2], i, n = 0, err = 0;
	char c;

	if (unshare(CLONE_NEWUSER))
		return 100;
	if (write(up_fd, "u", 1) != 1 || read(go_fd, &c, 1) != 1)
		return 101;		/* the parent wrote our maps */
	if (pipe(res))
		return 102;
	for (i = 1; i <= NS_CAP + 1; i++) {
		pid_t p = fork();

		if (p < 0)
			return 103;
		kids[i - 1] = p;
		if (p == 0) {
			int fd;

			close(res[0]);
			if (setresgid(i, i, i) || setresuid(i, i, i))
				_exit(1);
			fd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);
			c = fd >= 0 ? 'o' : errno == EMFILE ? 'm' : 'e';
			if (write(res[1], &c, 1) != 1)
				_exit(2);
			pause();	/* hold the group until killed */
			_exit(0);
		}
		if (read(res[0], &c, 1) != 1)
			return 104;
		n += c == 'o';
		err |= c == 'e';
	}
	for (i = 0; i <= NS_CAP; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	return err ? 105 : n;
}

TEST(groups_cap_counts_a_user_namespace_against_its_owner)
{
	unsigned int saved = read_param("max_groups_per_user");
	char path[64], cap[16];
	int go[2], up[2], status, fd, opened = -1;
	pid_t pid;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	if (geteuid())
		SKIP(return, "needs root (the uid maps, the module parameter)");
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(up));
	snprintf(cap, sizeof(cap), "%d", NS_CAP);
	ASSERT_EQ(0, write_file("/sys/module/sact/parameters/max_groups_per_user",
				cap));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(go[1]);
		close(up[0]);
		_exit(userns_opener(up[1], go[0]));
	}
	close(go[0]);
	close(up[1]);
	/* once it is in its namespace: uids 0..63 there are 600000.. here */
	if (read(up[0], path, 1) == 1) {
		snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
		EXPECT_EQ(0, write_file(path, "0 600000 64"));
		snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
		EXPECT_EQ(0, write_file(path, "0 600000 64"));
		EXPECT_EQ(1, write(go[1], "g", 1));
	}
	close(go[1]);
	EXPECT_EQ(pid, waitpid(pid, &status, 0));
	if (WIFEXITED(status))
		opened = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		opened = -WTERMSIG(status);
	snprintf(cap, sizeof(cap), "%u", saved);
	write_file("/sys/module/sact/parameters/max_groups_per_user", cap);
	EXPECT_EQ(NS_CAP, opened);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	int fd;

	if (recvmsg(sock, &mh, 0) != 1 || !CMSG_FIRSTHDR(&mh))
		return -1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	return fd;
}

/* n blocks of M 0 on P 0, re-acquiring it each time. */
static void do_blocks(struct kgroup *g, int n)
{
	while (n--) {
		if (kt_block_once(g, 0, 0))
			abort();
		kg_acquire(g, 0, 0);
	}
}

/* Two processes, a group each: exact own counts; a passed fd is -EPERM. */
TEST_F(bad, two_processes_isolated)
{
	struct kgroup *g = &self->g;
	struct sact_counters c = { .size = sizeof(c) };
	int sv[2], status, other;
	pid_t pid;
	char go;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kgroup cg;

		kg_close(g);	/* drop the parent's fd copy */
		if (kg_open(&cg) || kg_register(&cg, 0) ||
		    !kg_acquire(&cg, 0, 0))
			_exit(10);
		do_blocks(&cg, 5);
		if (send_fd(sv[1], cg.fd))
			_exit(11);
		if (read(sv[1], &go, 1) != 1)
			_exit(12);
		c = kg_counters(&cg);
		if (c.blocks != 5 || c.unblocks != 5 || c.handoffs != 5)
			_exit(13);
		_exit(0);
	}
	ASSERT_EQ(0, kg_register(g, 0));
	ASSERT_TRUE(kg_acquire(g, 0, 0));
	do_blocks(g, 3);
	other = recv_fd(sv[0]);
	ASSERT_LE(0, other);
	EXPECT_EQ(-EPERM, kt_ioctl(other, SACT_IOC_COUNTERS, &c));
	EXPECT_EQ(-EPERM, kt_ioctl(other, SACT_IOC_CONFIG, &c));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, other, 0));
	EXPECT_EQ(EPERM, errno);
	do_blocks(g, 1);
	c = kg_counters(g);
	EXPECT_EQ(4, c.blocks);
	EXPECT_EQ(4, c.unblocks);
	EXPECT_EQ(4, c.handoffs);
	EXPECT_EQ(4, g->ms[0].blocks);
	ASSERT_EQ(1, write(sv[0], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(other);
}

KT_TEST_MODULE_REFS_SETTLE

TEST_HARNESS_MAIN
