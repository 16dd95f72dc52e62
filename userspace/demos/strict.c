// SPDX-License-Identifier: GPL-2.0
/*
 * strict - strict mode catching a block no wrapper saw: a page fault.
 *
 * One P (nprocs=1), one standby M, the kmod backend.  A G reads a page
 * that is not there yet; userfaultfd stands in for a slow disk: a helper
 * thread (not an M) serves the fault.  Then, round after round:
 *   1. the G's M blocks in the page fault - no syscall, nothing the
 *      runtime could wrap;
 *   2. the module hands the P to the standby M at once, which runs the
 *      compute G waiting on it (the helper sees it run, then serves the
 *      fault);
 *   3. the faulting M comes back from the kernel, but its P is busy: the
 *      module parks it before it returns to user space (a "strict park"),
 *      so two Ms never run G code on one P - the invariant the whole
 *      project keeps;
 *   4. the compute G finishes, the P goes idle, the runtime grants it to
 *      the parked M (SACT_IOC_GRANT), and the faulting G goes on.  (Had
 *      the compute G called sact_yield(), the yield would have handed the
 *      P to the parked M there and then.)
 * Each step is printed as it happens, with the module's counters.
 *
 * Run it:
 *   make demo DEMO=strict                               in the QEMU VM
 *   sudo insmod build/kmod/sact.ko && build/demos/strict    real host
 * Needs the module (exit 4 without it) and userfaultfd (for a user
 * without CAP_SYS_PTRACE: a kernel with UFFD_USER_MODE_ONLY, 5.11+, or
 * vm.unprivileged_userfaultfd=1).  --short: two rounds, then the checks
 * of demo.h; the module's counters are compared with its debugfs view
 * (/sys/kernel/debug/sact/groups) when that is readable (root).
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>

#include "demo.h"

#define MAXROUNDS	8
#define WAIT_NS		5000000000LL	/* give up on a step after 5 s */

static int rounds;
static int64_t hold_ns;			/* compute keeps the P after the fault */
static long psize;
static char *pages;
static int uffd;
static struct sact_mslot *kslots;	/* the module's M slots (read only) */
static uint32_t kmax_workers;		/* their number: the group's cap */
static int64_t t0;

static struct {
	_Atomic int running;		/* compute G of the round runs */
	_Atomic int release;		/* ... and may finish */
	int faulted_m, compute_m;	/* M indexes */
	bool saw_park, saw_handoff;
	uint64_t parks_during;		/* module's strict_parks while parked */
} round_[MAXROUNDS];

static int helper_failed;

static double ms(void)
{
	return (demo_now_ns() - t0) / 1e6;
}

/* The M slot of thread tid, or -1. */
static int slot_of(pid_t tid)
{
	for (uint32_t i = 0; i < kmax_workers; i++)
		if (__atomic_load_n(&kslots[i].tid, __ATOMIC_RELAXED) ==
		    (uint32_t)tid)
			return i;
	return -1;
}

static bool wait_for(_Atomic int *flag)
{
	int64_t end = demo_now_ns() + WAIT_NS;

	while (!atomic_load(flag))
		if (demo_now_ns() > end)
			return false;
		else
			usleep(200);
	return true;
}

static bool wait_kstate(int m, uint32_t state)
{
	int64_t end = demo_now_ns() + WAIT_NS;

	while (__atomic_load_n(&kslots[m].kstate, __ATOMIC_RELAXED) != state)
		if (demo_now_ns() > end)
			return false;
		else
			usleep(200);
	return true;
}

/* The slow disk: serves the faults, one a round, and narrates. */
static void *helper(void *arg)
{
	static char src[65536] __attribute__((aligned(4096)));

	(void)arg;
	for (int r = 0; r < rounds; r++) {
		struct uffd_msg msg;
		struct uffdio_copy cp;
		struct sact_counters kc;
		int m;

		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT) {
			helper_failed = 1;
			return NULL;
		}
		m = slot_of((pid_t)msg.arg.pagefault.feat.ptid);
		round_[r].faulted_m = m;
		printf("  %7.1f ms  round %d: M%d blocked in a page fault "
		       "(no syscall)\n", ms(), r + 1, m);
		round_[r].saw_handoff = wait_for(&round_[r].running);
		printf("  %7.1f ms    the module gave its P to standby M%d, "
		       "which runs the compute G\n", ms(), round_[r].compute_m);
		usleep(20000);			/* the disk is slow */
		memset(src, 'a' + r, (size_t)psize);
		cp = (struct uffdio_copy){
			.dst = (unsigned long)(pages + r * psize),
			.src = (unsigned long)src, .len = (unsigned long)psize,
		};
		if (ioctl(uffd, UFFDIO_COPY, &cp)) {
			helper_failed = 2;
			return NULL;
		}
		printf("  %7.1f ms    fault served\n", ms());
		round_[r].saw_park = m >= 0 && wait_kstate(m, SACT_MK_PARKED);
		demo_kcounters(&kc);
		round_[r].parks_during = kc.strict_parks;
		printf("  %7.1f ms    M%d is back from the kernel but its P is "
		       "busy: %s (module: strict parks %llu)\n", ms(), m,
		       round_[r].saw_park ? "the module parked it" :
		       "NOT PARKED", (unsigned long long)kc.strict_parks);
		usleep((useconds_t)(hold_ns / 1000));
		atomic_store(&round_[r].release, 1);
	}
	return NULL;
}

static void compute_g(void *arg)
{
	int r = (int)(intptr_t)arg;
	volatile unsigned long x = 0;

	round_[r].compute_m = slot_of(gettid());
	atomic_store(&round_[r].running, 1);
	/* no sact_yield() here: a yield would hand the P to the parked M at
	 * once (an M waiting for a P takes it at the next yield), and this
	 * demo keeps the P busy to show the park */
	while (!atomic_load(&round_[r].release)) {
		for (int i = 0; i < 10000; i++)
			x += (unsigned long)i;
	}
	printf("  %7.1f ms    compute G done: the P goes idle\n", ms());
}

/* The module's strict_parks and grants for this process, from debugfs. */
static int debugfs_counters(uint64_t *parks, uint64_t *grants)
{
	FILE *f = fopen("/sys/kernel/debug/sact/groups", "re");
	char line[1024], *tok, *save;
	int col_tgid = -1, col_parks = -1, col_grants = -1, i, err = -ENOENT;

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f))
		goto out;
	for (i = 0, tok = strtok_r(line, " \t\n", &save); tok;
	     i++, tok = strtok_r(NULL, " \t\n", &save)) {
		if (!strcmp(tok, "tgid"))
			col_tgid = i;
		else if (!strcmp(tok, "strict_parks"))
			col_parks = i;
		else if (!strcmp(tok, "grants"))
			col_grants = i;
	}
	if (col_tgid < 0 || col_parks < 0 || col_grants < 0)
		goto out;
	while (fgets(line, sizeof(line), f)) {
		uint64_t v[64] = { 0 };

		for (i = 0, tok = strtok_r(line, " \t\n", &save);
		     tok && i < 64; i++, tok = strtok_r(NULL, " \t\n", &save))
			v[i] = strtoull(tok, NULL, 10);
		if (v[col_tgid] == (uint64_t)getpid()) {
			*parks = v[col_parks];
			*grants = v[col_grants];
			err = 0;
			break;
		}
	}
out:
	fclose(f);
	return err;
}

static struct sact_counters final_kc;
static int final_dbg = -1;
static uint64_t dbg_parks, dbg_grants;
static int bad_values;

static void first_g(void *arg)
{
	(void)arg;
	for (int r = 0; r < rounds; r++) {
		volatile char *p = pages + r * psize;
		int m;

		sact_go(compute_g, (void *)(intptr_t)r);
		if (*p != 'a' + r)		/* blocks in the fault */
			bad_values++;
		m = slot_of(gettid());
		printf("  %7.1f ms    the runtime granted P%u to M%d: the "
		       "faulting G goes on (read '%c')\n", ms(),
		       __atomic_load_n(&kslots[m].kproc, __ATOMIC_RELAXED), m,
		       *p);
		fflush(stdout);
	}
	demo_kcounters(&final_kc);
	final_dbg = debugfs_counters(&dbg_parks, &dbg_grants);
}

/* The module's M slots: a read-only view of the runtime's group. */
static struct sact_mslot *find_slots(void)
{
	int fd = demo_group_fd();
	struct sact_shm_header *hdr;
	char *shm;
	size_t size;

	if (fd < 0)
		return NULL;
	/* the area's length and the cap are in its first page */
	hdr = mmap(NULL, SACT_SHM_PROCS_OFFSET, PROT_READ, MAP_SHARED, fd, 0);
	if (hdr == MAP_FAILED)
		return NULL;
	size = hdr->size;
	kmax_workers = hdr->max_workers;
	munmap(hdr, SACT_SHM_PROCS_OFFSET);
	shm = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	return shm == MAP_FAILED ? NULL :
	       (void *)(shm + SACT_SHM_WORKERS_OFFSET);
}

static void setup_g(void *arg)
{
	pthread_t *th = arg;

	kslots = find_slots();
	if (!kslots || pthread_create(th, NULL, helper, NULL)) {
		printf("strict: cannot map the module's shared area\n");
		helper_failed = 3;
		return;
	}
	first_g(NULL);
}

static int open_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_THREAD_ID };
	struct uffdio_register reg;
	int fd;

#ifdef UFFD_USER_MODE_ONLY
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd < 0)
#endif
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api))
		goto out_close;
	reg = (struct uffdio_register){
		.range = { .start = (unsigned long)pages,
			   .len = (unsigned long)(rounds * psize) },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		goto out_close;
	return fd;

out_close:
	close(fd);
	return -errno;
}

int main(int argc, char **argv)
{
	struct sact_config c = demo_config(1, 1, SACT_BACKEND_KMOD);
	bool short_mode = argc > 1 && !strcmp(argv[1], "--short");
	pthread_t th;
	int err, parked = 0, handed = 0;

	if (argc > 2 || (argc == 2 && !short_mode)) {
		fprintf(stderr, "usage: %s [--short]\n", argv[0]);
		return 2;
	}
	rounds = short_mode ? 2 : 4;
	hold_ns = short_mode ? 20000000 : 300000000;
	psize = sysconf(_SC_PAGESIZE);
	pages = mmap(NULL, (size_t)(rounds * psize), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	uffd = open_uffd();
	if (uffd < 0) {
		printf("strict: userfaultfd: %s (needs CAP_SYS_PTRACE or "
		       "vm.unprivileged_userfaultfd=1)\n", strerror(-uffd));
		return DEMO_SKIP;
	}
	printf("strict: 1 P, 1 standby M, kmod in strict mode; %d page faults "
	       "served by a slow helper, each while a compute G wants the P\n",
	       rounds);
	fflush(stdout);
	t0 = demo_now_ns();
	err = sact_run(&c, setup_g, &th);
	if (err) {
		printf("strict: sact_run(kmod): %s%s\n", strerror(-err),
		       err == -ENODEV ? " (load sact.ko first)" : "");
		return DEMO_SKIP;
	}
	if (helper_failed != 3)
		pthread_join(th, NULL);
	for (int r = 0; r < rounds; r++) {
		parked += round_[r].saw_park;
		handed += round_[r].saw_handoff;
	}
	printf("verdict: %d page faults, %d handed the P to the standby at "
	       "once, %d parked the returning M; module: %llu blocks, "
	       "%llu handoffs, %llu strict parks, %llu grants\n", rounds,
	       handed, parked, (unsigned long long)final_kc.blocks,
	       (unsigned long long)final_kc.handoffs,
	       (unsigned long long)final_kc.strict_parks,
	       (unsigned long long)final_kc.grants);
	if (!short_mode)
		return helper_failed ? 1 : 0;
	printf("# raw strict: rounds=%d handed=%d parked=%d kblocks=%llu "
	       "khandoffs=%llu kstrict_parks=%llu kgrants=%llu dbg=%d "
	       "dbg_strict_parks=%llu dbg_grants=%llu\n", rounds, handed,
	       parked, (unsigned long long)final_kc.blocks,
	       (unsigned long long)final_kc.handoffs,
	       (unsigned long long)final_kc.strict_parks,
	       (unsigned long long)final_kc.grants, final_dbg,
	       (unsigned long long)dbg_parks, (unsigned long long)dbg_grants);
	demo_check(!helper_failed && !bad_values,
		   "every fault served, every page read back right");
	demo_check(handed == rounds && parked == rounds,
		   "each round: P handed to the standby, returning M parked");
	demo_check(final_kc.strict_parks >= (uint64_t)rounds &&
		   final_kc.grants >= (uint64_t)rounds,
		   "module: strict parks %llu and grants %llu >= %d rounds",
		   (unsigned long long)final_kc.strict_parks,
		   (unsigned long long)final_kc.grants, rounds);
	for (int r = 0; r < rounds; r++)
		demo_check(round_[r].parks_during >= (uint64_t)r + 1,
			   "round %d: the module counted the park while it "
			   "lasted (%llu)", r + 1,
			   (unsigned long long)round_[r].parks_during);
	if (final_dbg == 0)
		demo_check(dbg_parks == final_kc.strict_parks &&
			   dbg_grants == final_kc.grants,
			   "debugfs agrees: strict parks %llu, grants %llu",
			   (unsigned long long)dbg_parks,
			   (unsigned long long)dbg_grants);
	else
		printf("# debugfs not readable (%s): not compared\n",
		       strerror(-final_dbg));
	return demo_status();
}
