// SPDX-License-Identifier: GPL-2.0
/*
 * abi.c - the ABI holds old binaries to work: the module dispatches on an
 * ioctl's type and number, whatever size and direction the number encodes
 * (a binary built against an older header encodes older sizes); argument
 * sizes are capped at a page; CONFIG sets the group's cap on workers,
 * which sizes the shared area, and reports the area's length; the area is
 * shared only and never inherited by a child.
 */
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "sact_test.h"
#include "kmod_util.h"

/* The number of command @cmd with another encoded size and direction. */
#define KT_RENUMBER(dir, cmd, size) \
	_IOC(dir, SACT_IOC_MAGIC, _IOC_NR(cmd), size)

FIXTURE(abi) {
	int fd;
};

FIXTURE_SETUP(abi)
{
	sact_open_dev_or_skip(_metadata, &self->fd);
}

FIXTURE_TEARDOWN(abi)
{
	close(self->fd);
}

/* SACT_IOC_CONFIG as the first published header numbered it: kmod_util.h */

/* SACT_IOC_GRANT as the first published header numbered it. */
struct grant_ver0 {
	uint32_t size, flags, worker, proc;
};
#define KT_IOC_GRANT_VER0	_IOW(SACT_IOC_MAGIC, 0x05, struct grant_ver0)

/*
 * Every ioctl, called the way an old binary calls it: the number encodes
 * the first published size (CONFIG: also the first direction), the struct
 * says that size.  Each does its job.
 */
TEST_F(abi, old_numbers_and_sizes_work)
{
	struct kt_config_ver0 c0 = { .size = sizeof(c0),
				  .flags = SACT_CONFIG_POOL, .nr_procs = 2 };
	struct grant_ver0 g0 = { .size = sizeof(g0),
				 .flags = SACT_GRANT_STANDBY, .proc = 1 };
	struct sact_version v = { .size = sizeof(v) };
	struct sact_worker_args a = { .size = sizeof(a) };
	struct sact_standby s = { .size = sizeof(s) };
	struct sact_counters k = { .size = sizeof(k) };
	struct sact_shm_header *hdr;

	ASSERT_EQ(0, kt_ioctl(self->fd, SACT_IOC_VERSION, &v));
	EXPECT_EQ(SACT_ABI_VERSION, v.abi);
	ASSERT_EQ(0, kt_ioctl(self->fd, KT_IOC_CONFIG_VER0, &c0));
	EXPECT_EQ(sizeof(c0), c0.size);	/* no reply to an old caller */
	EXPECT_EQ(0, c0.max_workers);		/* a reserved zero then */
	hdr = mmap(NULL, SACT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->fd, 0);
	ASSERT_NE(MAP_FAILED, hdr);
	EXPECT_EQ(2, hdr->nr_procs);
	EXPECT_EQ(SACT_MAX_WORKERS, hdr->max_workers);	/* the default */
	EXPECT_EQ(SACT_SHM_SIZE, hdr->size);
	ASSERT_EQ(0, kt_ioctl(self->fd, SACT_IOC_REGISTER, &a));
	/* the 16-byte GRANT: a standby grant of FREE P 1 to M 0, seq 0 */
	ASSERT_EQ(0, kt_ioctl(self->fd, KT_IOC_GRANT_VER0, &g0));
	EXPECT_EQ(1, kt_ioctl(self->fd, SACT_IOC_STANDBY, &s));
	EXPECT_EQ(0, s.worker);
	ASSERT_EQ(0, kt_ioctl(self->fd, SACT_IOC_COUNTERS, &k));
	EXPECT_EQ(1, k.grants);
	EXPECT_EQ(1, k.workers);
	EXPECT_EQ(0, kt_ioctl(self->fd, SACT_IOC_UNREGISTER, &a));
	munmap(hdr, SACT_SHM_SIZE);
}

/*
 * The size and direction a number encodes do not matter: each command
 * with sizes 0, 8 and 4096 and every direction is still that command.
 */
TEST_F(abi, numbers_ignore_size_and_direction)
{
	static const unsigned int dirs[] = {
		_IOC_NONE, _IOC_READ, _IOC_WRITE, _IOC_READ | _IOC_WRITE,
	};
	static const unsigned int sizes[] = { 0, 8, 4096 };
	struct sact_group_config c = { .size = sizeof(c), .nr_procs = 3 };
	struct sact_worker_args a = { .size = sizeof(a), .worker = 7 };
	struct sact_version v;
	struct sact_counters k;
	unsigned int i, j, n = 0;

	for (i = 0; i < 4; i++) {
		for (j = 0; j < 3; j++) {
			v = (struct sact_version){ .size = sizeof(v) };
			EXPECT_EQ(0, kt_ioctl(self->fd, KT_RENUMBER(dirs[i],
					SACT_IOC_VERSION, sizes[j]), &v));
			EXPECT_EQ(SACT_ABI_VERSION, v.abi);
			/* the reply (cap, area size) is a valid argument */
			c.nr_procs = 1 + n % SACT_MAX_PROCS;
			EXPECT_EQ(0, kt_ioctl(self->fd, KT_RENUMBER(dirs[i],
					SACT_IOC_CONFIG, sizes[j]), &c));
			EXPECT_EQ(0, kt_ioctl(self->fd, KT_RENUMBER(dirs[i],
					SACT_IOC_REGISTER, sizes[j]), &a));
			k = (struct sact_counters){ .size = sizeof(k) };
			EXPECT_EQ(0, kt_ioctl(self->fd, KT_RENUMBER(dirs[i],
					SACT_IOC_COUNTERS, sizes[j]), &k));
			EXPECT_EQ(1, k.workers);
			EXPECT_EQ(0, kt_ioctl(self->fd, KT_RENUMBER(dirs[i],
					SACT_IOC_UNREGISTER, sizes[j]), &a));
			/* not a worker now: STANDBY and GRANT say so */
			EXPECT_EQ(-ENOENT, kt_ioctl(self->fd, KT_RENUMBER(
				dirs[i], SACT_IOC_STANDBY, sizes[j]),
				&(struct sact_standby){ .size = 16 }));
			EXPECT_EQ(-ENOENT, kt_ioctl(self->fd, KT_RENUMBER(
				dirs[i], SACT_IOC_GRANT, sizes[j]),
				&(struct sact_grant){ .size = 24, .worker = 7 }));
			n++;
		}
	}
	EXPECT_EQ(12, n);
}

/*
 * An argument may not claim more than a page: the zero-tail check would
 * scan up to 4 GiB of user memory.  A page is still fine.
 */
TEST_F(abi, argument_size_capped_at_a_page)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint32_t *buf = calloc(1, 2 * ps);
	unsigned int i;

	ASSERT_NE(NULL, buf);
	buf[0] = ps;
	EXPECT_EQ(0, kt_ioctl(self->fd, SACT_IOC_VERSION, buf));
	for (i = 0; i < 3; i++) {
		static const uint32_t big[] = { 0, 1 << 20, 0xffffffff };

		buf[0] = i ? big[i] : ps + 4;
		EXPECT_EQ(-E2BIG, kt_ioctl(self->fd, SACT_IOC_VERSION, buf))
			TH_LOG("size %u", buf[0]);
		buf[0] = i ? big[i] : ps + 4;
		EXPECT_EQ(-E2BIG, kt_ioctl(self->fd, SACT_IOC_COUNTERS, buf))
			TH_LOG("size %u", buf[0]);
	}
	free(buf);
}

static int kt_config_cap(int fd, uint32_t cap, struct sact_group_config *c)
{
	*c = (struct sact_group_config){ .size = sizeof(*c), .nr_procs = 4,
					 .max_workers = cap };
	return kt_ioctl(fd, SACT_IOC_CONFIG, c);
}

/*
 * The cap on workers: 0 is the default, up to SACT_WORKERS_LIMIT; it
 * sizes the area, which CONFIG and the header report; indexes beyond it
 * are -EINVAL; once the area is mapped it cannot change.
 */
TEST_F(abi, worker_cap_sizes_the_area)
{
	struct sact_group_config c;
	struct sact_shm_header *hdr;
	struct sact_mslot *ms;
	struct sact_worker_args a = { .size = sizeof(a) };
	struct sact_grant gr = { .size = sizeof(gr) };

	ASSERT_EQ(0, kt_config_cap(self->fd, 0, &c));
	EXPECT_EQ(SACT_MAX_WORKERS, c.max_workers);
	EXPECT_EQ(SACT_SHM_SIZE, c.shm_size);
	EXPECT_EQ(sizeof(c), c.size);
	EXPECT_EQ(-EINVAL, kt_config_cap(self->fd, SACT_WORKERS_LIMIT + 1, &c));
	ASSERT_EQ(0, kt_config_cap(self->fd, 1000, &c));
	EXPECT_EQ(1000, c.max_workers);
	EXPECT_EQ(SACT_SHM_SIZE_FOR(1000), c.shm_size);
	EXPECT_EQ(8192 + 64000 + 1536, c.shm_size);
	/* not mapped, nobody registered: the cap may still change */
	ASSERT_EQ(0, kt_config_cap(self->fd, 300, &c));
	ASSERT_EQ(0, kt_config_cap(self->fd, 1000, &c));

	EXPECT_EQ(MAP_FAILED, mmap(NULL, c.shm_size + 4096, PROT_READ,
				   MAP_SHARED, self->fd, 0));
	hdr = mmap(NULL, c.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->fd, 0);
	ASSERT_NE(MAP_FAILED, hdr);
	EXPECT_EQ(c.shm_size, hdr->size);
	EXPECT_EQ(1000, hdr->max_workers);
	EXPECT_EQ(4, hdr->nr_procs);
	EXPECT_EQ(SACT_SHM_PROCS_OFFSET, hdr->procs_offset);
	EXPECT_EQ(SACT_SHM_WORKERS_OFFSET, hdr->workers_offset);
	ms = (void *)((char *)hdr + SACT_SHM_WORKERS_OFFSET);
	EXPECT_EQ(SACT_NONE, ms[999].proc);
	EXPECT_EQ(SACT_NONE, ms[999].kproc);

	/* mapped: the layout is fixed */
	EXPECT_EQ(-EBUSY, kt_config_cap(self->fd, 2000, &c));
	EXPECT_EQ(-EBUSY, kt_config_cap(self->fd, 0, &c));
	ASSERT_EQ(0, kt_config_cap(self->fd, 1000, &c));

	a.worker = 1000;
	EXPECT_EQ(-EINVAL, kt_ioctl(self->fd, SACT_IOC_REGISTER, &a));
	EXPECT_EQ(-EINVAL, kt_ioctl(self->fd, SACT_IOC_UNREGISTER, &a));
	gr.worker = 1000;
	EXPECT_EQ(-EINVAL, kt_ioctl(self->fd, SACT_IOC_GRANT, &gr));
	a.worker = 999;
	ASSERT_EQ(0, kt_ioctl(self->fd, SACT_IOC_REGISTER, &a));
	EXPECT_EQ(kt_gettid(), ms[999].tid);
	EXPECT_EQ(SACT_MK_RUNNING, ms[999].kstate);
	EXPECT_EQ(0, kt_ioctl(self->fd, SACT_IOC_UNREGISTER, &a));
	munmap(hdr, c.shm_size);
}

/* A group at the hard limit: the last index works. */
TEST_F(abi, worker_cap_at_the_limit)
{
	struct sact_worker_args a = { .size = sizeof(a),
				      .worker = SACT_WORKERS_LIMIT - 1 };
	struct sact_group_config c;
	struct sact_shm_header *hdr;
	struct sact_mslot *ms;

	ASSERT_EQ(0, kt_config_cap(self->fd, SACT_WORKERS_LIMIT, &c));
	EXPECT_EQ(SACT_SHM_SIZE_FOR(SACT_WORKERS_LIMIT), c.shm_size);
	hdr = mmap(NULL, c.shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->fd, 0);
	ASSERT_NE(MAP_FAILED, hdr);
	ms = (void *)((char *)hdr + SACT_SHM_WORKERS_OFFSET);
	ASSERT_EQ(0, kt_ioctl(self->fd, SACT_IOC_REGISTER, &a));
	EXPECT_EQ(kt_gettid(), ms[SACT_WORKERS_LIMIT - 1].tid);
	EXPECT_EQ(0, kt_ioctl(self->fd, SACT_IOC_UNREGISTER, &a));
	munmap(hdr, c.shm_size);
}

/* REGISTER fixes the layout too (the worker's slot is in the area). */
TEST_F(abi, register_fixes_the_cap)
{
	struct sact_worker_args a = { .size = sizeof(a), .worker = 3 };
	struct sact_group_config c;

	ASSERT_EQ(0, kt_ioctl(self->fd, SACT_IOC_REGISTER, &a));
	EXPECT_EQ(-EBUSY, kt_config_cap(self->fd, 500, &c));
	EXPECT_EQ(0, kt_ioctl(self->fd, SACT_IOC_UNREGISTER, &a));
}

/*
 * The mapping is shared only, and a child never gets it: not by fork,
 * not after MADV_DOFORK (refused), and mremap cannot grow it.
 */
TEST_F(abi, mapping_shared_only_never_inherited)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *p, *q;
	pid_t pid;
	int st;

	p = mmap(NULL, ps, PROT_READ, MAP_PRIVATE, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, SACT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, madvise(p, SACT_SHM_SIZE, MADV_DOFORK));
	EXPECT_EQ(EINVAL, errno);
	q = mremap(p, ps, 2 * ps, 0);
	EXPECT_EQ(MAP_FAILED, q);
	p[SACT_SHM_PROCS_OFFSET + 4] = 1;	/* the mapping works */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* msync of a range with nothing mapped: ENOMEM */
		_exit(msync(p, ps, MS_ASYNC) == -1 && errno == ENOMEM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("the child has the parent's mapping");
	munmap(p, SACT_SHM_SIZE);
}

KT_TEST_MODULE_REFS_SETTLE

TEST_HARNESS_MAIN
