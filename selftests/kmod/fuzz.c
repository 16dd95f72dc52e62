// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz.c - random use of the ioctl and mmap interface: two processes,
 * FUZZ_THREADS threads each, >= 100k calls in all, with random commands,
 * sizes, flags, indexes and pointers, on the process's own groups and on
 * the other process's group (inherited fd: -EPERM), with random writes
 * into the shared memory (P words, M slots, the header) while the
 * threads register, block, park as standbys and get strict-parked.  A
 * kicker thread signals every fuzz thread every millisecond so no park
 * lasts.  Pass: every call returns 0, a P index or an errno the ABI
 * documents; the counters stay consistent; when both processes are gone
 * every group is gone and the module's reference count is back (the
 * guest kernel log is checked for splats by the runner).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "sact_test.h"
#include "kmod_util.h"

#define FUZZ_THREADS	3
#define FUZZ_CALLS	17000		/* per thread: 2 * 3 * 17000 > 100k */

struct shared {
	atomic_ulong ok_by_nr[8];	/* successes by ioctl number */
	atomic_ulong calls;
	atomic_ulong bad;		/* an errno the ABI does not document */
	atomic_ulong successes;
	atomic_ulong proper_ok;
	int last_bad_op, last_bad_err;
};

static struct shared *sh;
static int fds[3];			/* own group, own second, other's */
static void *maps[3];
static atomic_int stop;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const unsigned long cmd_list[] = {
	SACT_IOC_VERSION, SACT_IOC_CONFIG, SACT_IOC_REGISTER,
	SACT_IOC_UNREGISTER, SACT_IOC_STANDBY, SACT_IOC_GRANT,
	SACT_IOC_COUNTERS,
	_IOWR(SACT_IOC_MAGIC, 0x07, struct sact_counters),
	_IOW(SACT_IOC_MAGIC, 0x02, uint64_t),
	_IO(SACT_IOC_MAGIC, 0x00),
};

static int documented(int err)
{
	switch (err) {
	case 0: case -EINVAL: case -E2BIG: case -EFAULT: case -ENOTTY:
	case -EPERM: case -EALREADY: case -EBUSY: case -ENOENT: case -ENOSPC:
	case -EINTR: case -EAGAIN: case -EBADF: case -ENOMEM:
		return 1;
	}
	return err > 0 && err < SACT_MAX_PROCS;	/* STANDBY: a P index */
}

static uint32_t rnd_size(uint64_t *s, uint32_t exact)
{
	switch (rnd(s) % 8) {
	case 0: return 0;
	case 1: return rnd(s) % exact;
	case 2: return exact + 4 * (rnd(s) % 16);
	case 3: return rnd(s) % 4096;
	case 4: return (uint32_t)rnd(s) | 0x80000000u;
	default: return exact;
	}
}

static uint32_t rnd_index(uint64_t *s)
{
	switch (rnd(s) % 6) {
	case 0: return (uint32_t)rnd(s);
	case 1: return SACT_NONE;
	case 2: return SACT_MAX_WORKERS + rnd(s) % 4;
	default: return rnd(s) % 8;
	}
}

static void fuzz_ioctl(uint64_t *s)
{
	uint32_t buf[1024 / 4] = { 0 };
	unsigned long cmd = cmd_list[rnd(s) % (sizeof(cmd_list) /
					      sizeof(cmd_list[0]))];
	int fd = fds[rnd(s) % 3];
	void *arg = buf;
	int ret, i;

	buf[0] = rnd_size(s, _IOC_SIZE(cmd) ? _IOC_SIZE(cmd) : 16);
	buf[1] = rnd(s) % 4 ? 0 : (uint32_t)rnd(s) & (rnd(s) % 2 ? 1 : ~0u);
	buf[2] = rnd_index(s);
	buf[3] = rnd(s) % 2 ? 0 : rnd(s) % 4 ? rnd(s) % 8 : rnd_index(s);
	if (fd == fds[2] && rnd(s) % 2)
		fd = fds[0];
	if (rnd(s) % 8 == 0)
		for (i = 4; i < 256; i++)
			buf[i] = rnd(s) % 16 ? 0 : (uint32_t)rnd(s);
	switch (rnd(s) % 16) {
	case 0: arg = NULL; break;
	case 1: arg = (void *)(uintptr_t)(rnd(s) & 0xffffffffffff); break;
	case 2: arg = (char *)buf + sizeof(buf) - 4; buf[255] = 8; break;
	default: break;
	}
	ret = kt_ioctl(fd, cmd, arg);
	if (!documented(ret)) {
		atomic_fetch_add(&sh->bad, 1);
		sh->last_bad_op = (int)(cmd & 0xff);
		sh->last_bad_err = ret;
	} else if (ret >= 0) {
		atomic_fetch_add(&sh->successes, 1);
		atomic_fetch_add(&sh->ok_by_nr[_IOC_NR(cmd) & 7], 1);
	}
}

static void fuzz_mmap(uint64_t *s)
{
	long ps = 4096;
	size_t len = (1 + rnd(s) % 16) * ps;
	off_t off = rnd(s) % 4 ? 0 : (rnd(s) % 4) * ps;
	int prot = PROT_READ | (rnd(s) % 2 ? PROT_WRITE : 0) |
		   (rnd(s) % 8 ? 0 : PROT_EXEC);
	void *p = mmap(NULL, len, prot, MAP_SHARED, fds[rnd(s) % 3], off);

	if (p != MAP_FAILED) {
		/* anywhere but the header (fuzz_shm() scribbles there) */
		if ((prot & PROT_WRITE) && len > (size_t)ps)
			((volatile uint32_t *)p)[ps / 4 + rnd(s) % ((len - ps) / 4)] =
				(uint32_t)rnd(s);
		else
			(void)((volatile uint32_t *)p)[rnd(s) % (len / 4)];
		munmap(p, len);
	} else if (errno != EINVAL && errno != EPERM && errno != EBADF &&
		   errno != EACCES && errno != ENODEV) {
		atomic_fetch_add(&sh->bad, 1);
		sh->last_bad_op = 0x100;
		sh->last_bad_err = -errno;
	}
}

/* Scribble on the shared words the kernel reads. */
static void fuzz_shm(uint64_t *s)
{
	char *m = maps[rnd(s) % 2];
	struct sact_mslot *ms = (void *)(m + SACT_SHM_WORKERS_OFFSET);
	struct sact_proc *pr = (void *)(m + SACT_SHM_PROCS_OFFSET);
	struct sact_shm_header *h = (void *)m;
	uint32_t i = rnd(s) % 8;

	switch (rnd(s) % 6) {
	case 0: ms[i].state = rnd(s) % 3 ? SACT_M_RUNNING : (uint32_t)rnd(s);
		break;
	case 1: ms[i].proc = rnd(s) % 4 ? rnd(s) % 8 : (uint32_t)rnd(s);
		break;
	case 2: pr[i].word = rnd(s) % 2 ? SACT_PW(SACT_P_OWNED, rnd(s) % 8)
				       : (uint32_t)rnd(s);
		break;
	case 3: h->__reserved2[i] = rnd(s);	/* ABI 1's ring words */
		break;
	case 4: memset(&ms[i], 0xff, sizeof(ms[i]));
		break;
	default: h->nr_procs = (uint32_t)rnd(s);	/* informational */
		break;
	}
}

static void fuzz_block(uint64_t *s)
{
	struct timespec ts = { 0, rnd(s) % 50000 };

	switch (rnd(s) % 3) {
	case 0: nanosleep(&ts, NULL); break;
	case 1: sched_yield(); break;
	default: usleep(1); break;
	}
}

static struct kgroup fg;		/* view of the own group fds[0] */

/* Well-formed use, so the success paths run under the fuzzing too. */
static void fuzz_proper(uint64_t *s, uint32_t me, int *registered)
{
	int ret = 0;

	switch (rnd(s) % 4) {
	case 0:
		if (!*registered) {
			ret = kg_register(&fg, me);
			*registered = !ret;
			break;
		}
		kg_force(&fg, me, me);
		kg_running(&fg, me, me);
		fuzz_block(s);
		kg_idle(&fg, me);
		break;
	case 1:
		ret = kg_standby(&fg);
		break;
	case 2:
		ret = kg_grant(&fg, rnd(s) % FUZZ_THREADS, rnd(s) % 4);
		break;
	default:
		ret = kg_config(&fg, rnd(s) % 2 ? SACT_CONFIG_STRICT : 0,
				1 + rnd(s) % 8);
		break;
	}
	if (!documented(ret)) {
		atomic_fetch_add(&sh->bad, 1);
		sh->last_bad_op = 0x200;
		sh->last_bad_err = ret;
	} else if (ret >= 0) {
		atomic_fetch_add(&sh->proper_ok, 1);
	}
}

static void *fuzzer(void *p)
{
	uint64_t seed = (uintptr_t)p;
	uint32_t me = (uintptr_t)p % FUZZ_THREADS;
	int i, registered = 0;

	for (i = 0; i < FUZZ_CALLS && !atomic_load(&stop); i++) {
		switch (rnd(&seed) % 12) {
		case 0: fuzz_mmap(&seed); break;
		case 1: fuzz_shm(&seed); break;
		case 2: fuzz_block(&seed); break;
		case 3: case 4: case 5:
			fuzz_proper(&seed, me, &registered); break;
		default: fuzz_ioctl(&seed); break;
		}
		atomic_fetch_add(&sh->calls, 1);
	}
	/* exit registered or not, standby or not: the kernel cleans up */
	return NULL;
}

static pthread_t threads[FUZZ_THREADS];
static atomic_int running;

static void *kicker(void *p)
{
	int i;

	(void)p;
	while (atomic_load(&running)) {
		for (i = 0; i < FUZZ_THREADS; i++)
			pthread_kill(threads[i], SIGUSR1);
		usleep(1000);
	}
	return NULL;
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

/* One process's run; returns 0 if its groups stayed consistent. */
static int fuzz_process(uint64_t seed)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	struct kgroup g[2];
	struct sact_counters c[2];
	pthread_t k;
	int i, bad = 0;

	sigaction(SIGUSR1, &sa, NULL);
	if (kg_open(&g[0]) || kg_open(&g[1]))
		return 1;
	fg = g[0];
	fds[0] = g[0].fd;
	fds[1] = g[1].fd;
	maps[0] = g[0].shm;
	maps[1] = g[1].shm;
	atomic_store(&running, 1);
	for (i = 0; i < FUZZ_THREADS; i++)
		if (pthread_create(&threads[i], NULL, fuzzer,
				   (void *)(uintptr_t)((seed * 7919 + 1) *
						       FUZZ_THREADS + i)))
			return 2;
	if (pthread_create(&k, NULL, kicker, NULL))
		return 3;
	for (i = 0; i < FUZZ_THREADS; i++)
		pthread_join(threads[i], NULL);
	atomic_store(&running, 0);
	pthread_join(k, NULL);
	for (i = 0; i < 2; i++) {
		/* the fuzz threads exited: their registrations go */
		if (!kt_wait_until(KG_COUNTER(&g[i], workers) == 0))
			bad |= 4;
		c[i] = kg_counters(&g[i]);
		if (c[i].standbys || c[i].unblocks > c[i].blocks ||
		    c[i].handoffs > c[i].blocks ||
		    c[i].upcalls > c[i].handoffs ||
		    c[i].grants > c[i].blocks ||
		    c[i].strict_parks > c[i].unblocks)
			bad |= 8;
		/* ABI 2: nothing is ever dropped (there is no ring) */
		if (c[i].ring_overflows)
			bad |= 16;
	}
	kg_close(&g[0]);
	kg_close(&g[1]);
	return bad;
}

FIXTURE(fz) {
	int unused;
};

FIXTURE_SETUP(fz)
{
}

FIXTURE_TEARDOWN(fz)
{
}

TEST_F(fz, two_processes)
{
	int base, status, i, fd, fails = 0;
	pid_t pid[2];
	struct kgroup parent;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	base = kt_module_refcnt();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	/* a group neither fuzzing process owns: their fds[2] */
	ASSERT_EQ(0, kg_open(&parent));
	fds[2] = parent.fd;
	maps[2] = parent.shm;
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (pid[i] == 0)
			_exit(fuzz_process(0x9e3779b97f4a7c15ULL * (i + 1) ^
					   (uint64_t)getpid()));
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
		if (WIFEXITED(status) && WEXITSTATUS(status)) {
			fails++;
			TH_LOG("process %d: consistency bits %#x", i,
			       WEXITSTATUS(status));
		}
	}
	EXPECT_EQ(0, fails);
	TH_LOG("well-formed calls that succeeded: %lu",
	       atomic_load(&sh->proper_ok));
	TH_LOG("%lu calls, %lu succeeded: version %lu config %lu register %lu "
	       "unregister %lu standby %lu grant %lu counters %lu",
	       atomic_load(&sh->calls), atomic_load(&sh->successes),
	       atomic_load(&sh->ok_by_nr[0]), atomic_load(&sh->ok_by_nr[1]),
	       atomic_load(&sh->ok_by_nr[2]), atomic_load(&sh->ok_by_nr[3]),
	       atomic_load(&sh->ok_by_nr[4]), atomic_load(&sh->ok_by_nr[5]),
	       atomic_load(&sh->ok_by_nr[6]));
	EXPECT_LE(100000, atomic_load(&sh->calls));
	EXPECT_EQ(0, atomic_load(&sh->bad))
		TH_LOG("last undocumented: op %#x returned %d",
		       sh->last_bad_op, sh->last_bad_err);
	/* the parent's group saw nothing: no worker ever got in */
	EXPECT_EQ(0, KG_COUNTER(&parent, workers));
	EXPECT_EQ(0, KG_COUNTER(&parent, blocks));
	kg_close(&parent);
	for (i = 0; i < 2; i++)
		ASSERT_TRUE(kt_wait_until(
			kt_debugfs_group(pid[i], KT_COL_ID) == -1));
	ASSERT_TRUE(kt_wait_until(kt_module_refcnt() <= base));
}

KT_TEST_MODULE_REFS_SETTLE

TEST_HARNESS_MAIN
