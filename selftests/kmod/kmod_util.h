/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmod_util.h - helpers of the sact.ko selftests: a group (fd + mapping),
 * thin ioctl wrappers returning 0/-errno, the shared words, and bounded
 * waits.  A bounded wait is not a timed assertion: its bound (seconds) is
 * only reached when the module misbehaves.
 */
#ifndef SACT_KMOD_UTIL_H
#define SACT_KMOD_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/sact.h>

#define KT_WAIT_NS	(20ULL * 1000 * 1000 * 1000)	/* bound of waits */

struct kgroup {
	int fd;
	void *shm;
	struct sact_shm_header *hdr;
	struct sact_proc *procs;
	struct sact_mslot *ms;
};

static inline uint64_t kt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Wait (yielding) until expr is true, at most KT_WAIT_NS; true if it is. */
#define kt_wait_until(expr)						\
	({								\
		uint64_t __end = kt_now_ns() + KT_WAIT_NS;		\
		int __ok;						\
		while (!(__ok = !!(expr)) && kt_now_ns() < __end)	\
			usleep(200);					\
		__ok;							\
	})

/*
 * Is this the debug tier's kernel (make test-debug: lockdep, KASAN or
 * KCSAN, several times slower again than the guest's own)?  Fixed counts
 * that take minutes on Debian's kernel are cut there, to stay within the
 * harness's per-test hang guard.
 */
static inline bool kt_debug_kernel(void)
{
	struct utsname u;

	return uname(&u) == 0 && strstr(u.release, "-sact-debug") != NULL;
}

/* Write val to dir/file (a cgroup, sysfs or tracefs knob), as "echo val >
 * file" does: 0 or -errno. */
static inline int kt_write_file(const char *dir, const char *file,
				const char *val)
{
	char path[256];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

/* cgroup v2 at KT_CGROOT, mounted there if need be (root): 0 or -errno. */
#define KT_CGROOT	"/sys/fs/cgroup"
static inline int kt_cgroup_mounted(void)
{
	if (access(KT_CGROOT "/cgroup.controllers", F_OK) == 0)
		return 0;
	return mount("none", KT_CGROOT, "cgroup2", 0, NULL) ? -errno : 0;
}

static inline int kt_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

/* 0 or -errno; maps the shared area too. */
static inline int kg_open(struct kgroup *g)
{
	memset(g, 0, sizeof(*g));
	g->fd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);
	if (g->fd < 0)
		return -errno;
	g->shm = mmap(NULL, SACT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->fd, 0);
	if (g->shm == MAP_FAILED) {
		int err = -errno;

		close(g->fd);
		g->fd = -1;
		return err;
	}
	g->hdr = g->shm;
	g->procs = (void *)((char *)g->shm + SACT_SHM_PROCS_OFFSET);
	g->ms = (void *)((char *)g->shm + SACT_SHM_WORKERS_OFFSET);
	return 0;
}

static inline void kg_close(struct kgroup *g)
{
	if (g->shm && g->shm != MAP_FAILED)
		munmap(g->shm, SACT_SHM_SIZE);
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	g->shm = NULL;
}

/*
 * The usual fixture setup, in a harness FIXTURE_SETUP (it uses _metadata
 * and ASSERT_*): skip without the module, else open a group with worker 0
 * registered and holding P 0.
 */
#define KG_SETUP_WORKER0(g) do {					\
	int _fd;							\
									\
	sact_open_dev_or_skip(_metadata, &_fd);				\
	close(_fd);							\
	ASSERT_EQ(0, kg_open(g));					\
	ASSERT_EQ(0, kg_register(g, 0));				\
	ASSERT_TRUE(kg_acquire(g, 0, 0));				\
} while (0)

/*
 * CONFIG in its first published form (16 bytes, the old number), as every
 * module version takes it: the default cap.  (The cap: abi.c.)
 */
struct kt_config_ver0 {
	uint32_t size, flags, nr_procs, max_workers;
};
#define KT_IOC_CONFIG_VER0	_IOW(SACT_IOC_MAGIC, 0x01, struct kt_config_ver0)

static inline int kg_config(struct kgroup *g, uint32_t flags, uint32_t nr)
{
	struct kt_config_ver0 c = { .size = sizeof(c), .flags = flags,
				    .nr_procs = nr };

	return kt_ioctl(g->fd, KT_IOC_CONFIG_VER0, &c);
}

static inline int kg_register(struct kgroup *g, uint32_t m)
{
	struct sact_worker_args a = { .size = sizeof(a), .worker = m };

	return kt_ioctl(g->fd, SACT_IOC_REGISTER, &a);
}

static inline int kg_unregister(struct kgroup *g, uint32_t m)
{
	struct sact_worker_args a = { .size = sizeof(a), .worker = m };

	return kt_ioctl(g->fd, SACT_IOC_UNREGISTER, &a);
}

/* The P index (>= 0) or -errno. */
static inline int kg_standby(struct kgroup *g)
{
	struct sact_standby s = { .size = sizeof(s) };

	return kt_ioctl(g->fd, SACT_IOC_STANDBY, &s);
}

static inline int kg_grant(struct kgroup *g, uint32_t m, uint32_t p)
{
	struct sact_grant a = { .size = sizeof(a), .worker = m, .proc = p };

	return kt_ioctl(g->fd, SACT_IOC_GRANT, &a);
}

static inline struct sact_counters kg_counters(struct kgroup *g)
{
	struct sact_counters c = { .size = sizeof(c) };

	if (kt_ioctl(g->fd, SACT_IOC_COUNTERS, &c))
		memset(&c, 0xff, sizeof(c));	/* fails any exact check */
	return c;
}

#define KG_COUNTER(g, field)	(kg_counters(g).field)

static inline uint32_t kg_pword(struct kgroup *g, uint32_t p)
{
	return __atomic_load_n(&g->procs[p].word, __ATOMIC_ACQUIRE);
}

/* Take P p for M m by cmpxchg from FREE; true on success. */
static inline int kg_acquire(struct kgroup *g, uint32_t p, uint32_t m)
{
	uint32_t old = SACT_P_FREE;

	return __atomic_compare_exchange_n(&g->procs[p].word, &old,
					   SACT_PW(SACT_P_OWNED, m), 0,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Force P p to OWNED|m, whatever it was (tests only). */
static inline void kg_force(struct kgroup *g, uint32_t p, uint32_t m)
{
	__atomic_store_n(&g->procs[p].word, SACT_PW(SACT_P_OWNED, m),
			 __ATOMIC_RELEASE);
}

/* M m runs G code on P p / runs no G code. */
static inline void kg_running(struct kgroup *g, uint32_t m, uint32_t p)
{
	__atomic_store_n(&g->ms[m].proc, p, __ATOMIC_RELAXED);
	__atomic_store_n(&g->ms[m].state, SACT_M_RUNNING, __ATOMIC_RELEASE);
}

static inline void kg_idle(struct kgroup *g, uint32_t m)
{
	__atomic_store_n(&g->ms[m].state, SACT_M_IDLE, __ATOMIC_RELEASE);
}

static inline uint32_t kg_load(uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline long kt_futex(uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static inline pid_t kt_gettid(void)
{
	return syscall(SYS_gettid);
}

static inline int kt_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

static inline void kt_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* /sys/module/sact/refcnt, or -1. */
static inline int kt_module_refcnt(void)
{
	FILE *f = fopen("/sys/module/sact/refcnt", "r");
	int n = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

/*
 * Field @col (0-based, see the debugfs header line) of the group of
 * process @tgid in /sys/kernel/debug/sact/groups; -1 if there is none.
 */
static inline long long kt_debugfs_group(pid_t tgid, int col)
{
	FILE *f = fopen("/sys/kernel/debug/sact/groups", "r");
	char line[512];
	long long ret = -1;

	if (!f)
		return -2;
	while (fgets(line, sizeof(line), f)) {
		long long v[13];

		if (sscanf(line, "%lld %lld %lld %lld %lld %lld %lld %lld %lld "
			   "%lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10],
			   &v[11], &v[12]) != 13)
			continue;
		if (v[1] == tgid && col < 13) {
			ret = v[col];
			break;
		}
	}
	fclose(f);
	return ret;
}

/* debugfs columns */
enum { KT_COL_ID, KT_COL_TGID, KT_COL_UID, KT_COL_WORKERS, KT_COL_STANDBYS,
       KT_COL_BLOCKS, KT_COL_UNBLOCKS };

/*
 * Block M m exactly once while it runs G code on P p: a helper thread
 * waits until the module has published the block, then wakes us.  (A
 * short nanosleep does not always block: on a slow guest its timer may
 * expire before the task gets to schedule().)  0, or -ETIMEDOUT if the
 * module never reported the block.
 */
struct kt_bo {
	struct kgroup *g;
	uint32_t m, target, word;
	int timedout;
};

static inline void *kt_bo_waker(void *arg)
{
	struct kt_bo *b = arg;

	b->timedout = !kt_wait_until(kg_load(&b->g->ms[b->m].blocks) >=
				     b->target);
	__atomic_store_n(&b->word, 1, __ATOMIC_RELEASE);
	kt_futex(&b->word, FUTEX_WAKE_PRIVATE, 1);
	return NULL;
}

static inline int kt_block_once(struct kgroup *g, uint32_t m, uint32_t p)
{
	struct kt_bo b = { .g = g, .m = m,
			   .target = kg_load(&g->ms[m].blocks) + 1 };
	pthread_t t;

	if (pthread_create(&t, NULL, kt_bo_waker, &b))
		return -EAGAIN;
	kg_running(g, m, p);
	while (!__atomic_load_n(&b.word, __ATOMIC_ACQUIRE))
		kt_futex(&b.word, FUTEX_WAIT_PRIVATE, 0);
	kg_idle(g, m);
	pthread_join(t, NULL);
	return b.timedout ? -ETIMEDOUT : 0;
}

/*
 * The last test of a binary (a fixture of its own, defined last, runs
 * after the others; TEST()s run first): once every test process is gone, no
 * group, worker or standby is left, so the module's reference count drops
 * to 0 (the runner holds no /dev/sact open).  Releases after a thread's
 * last switch are asynchronous: wait for it, bounded.
 */
#define KT_TEST_MODULE_REFS_SETTLE					\
	FIXTURE(zz) {							\
		int unused;						\
	};								\
	FIXTURE_SETUP(zz)						\
	{								\
	}								\
	FIXTURE_TEARDOWN(zz)						\
	{								\
	}								\
	TEST_F(zz, module_references_settle)				\
	{								\
		if (kt_module_refcnt() < 0)				\
			SKIP(return, "sact.ko not loaded");		\
		ASSERT_TRUE(kt_wait_until(kt_module_refcnt() == 0))	\
			TH_LOG("refcnt stays at %d",			\
			       kt_module_refcnt());			\
	}

#endif /* SACT_KMOD_UTIL_H */
