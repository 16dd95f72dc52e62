// SPDX-License-Identifier: GPL-2.0
/*
 * load.c - the bpf backend loads, attaches and leaves nothing behind; it
 * refuses bad options and, without privilege, fails with -EPERM and a
 * reason.
 */
#include <sys/wait.h>

#include <bpf/bpf.h>

#include <sact.h>

#include "bpf_test.h"

static bool prog_exists(__u32 id)
{
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Is any program attached to a tracepoint-like hook named sact_switch? */
static int count_sact_progs(void)
{
	__u32 id = 0;
	int n = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    !strcmp(info.name, "sact_switch"))
			n++;
		close(fd);
	}
	return n;
}

TEST(teardown_leaves_nothing)
{
	struct sact_bpf *b = NULL;
	int wake;

	for (wake = SACT_BPF_WAKE_RING_PER_P; wake <= SACT_BPF_WAKE_RING_FUTEX;
	     wake++) {
		uint64_t end;
		__u32 id;
		int slot;

		sact_bpf_open_or_skip(_metadata, 4, wake, &b);
		id = sact_bpf_prog_id(b);
		ASSERT_NE(0, id);
		ASSERT_TRUE(prog_exists(id));
		/* In use: a slot, a P, a stop. */
		slot = sact_bpf_register(b);
		ASSERT_LE(0, slot);
		EXPECT_EQ(-EEXIST, sact_bpf_register(b));
		EXPECT_EQ(0, sact_bpf_p_acquire(b, 3, slot));
		EXPECT_EQ(-EBUSY, sact_bpf_p_acquire(b, 3, slot));
		EXPECT_EQ(-EINVAL, sact_bpf_p_acquire(b, 4, slot));
		sact_bpf_stop(b);
		EXPECT_EQ(-ECANCELED, sact_bpf_wait(b, slot, 0, 1000, NULL));
		sact_bpf_close(b);
		b = NULL;
		/* close() of the last fd drops the program at once; allow
		 * for a deferred release all the same (no timing verdict). */
		end = t_now_ns() + 30ull * 1000000000ull;
		while (prog_exists(id) && t_now_ns() < end)
			usleep(1000);
		EXPECT_FALSE(prog_exists(id)) TH_LOG("program %u still loaded", id);
	}
	/* And none of ours is left from this process (others may run). */
	TH_LOG("sact_switch programs loaded system-wide now: %d",
	       count_sact_progs());
}

struct waiter {
	struct sact_bpf *b;
	int ret, slot, started;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->slot = sact_bpf_register(w->b);
	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->ret = sact_bpf_wait(w->b, w->slot, 0, -1, NULL);
	sact_bpf_unregister(w->b, w->slot);
	return NULL;
}

/*
 * wait: a timeout with nothing handed off; a P already HANDOFF is taken at
 * once; a second waiter on one P is refused (RING_PER_P); stop wakes a
 * waiter with no timeout.
 */
TEST(wait_contract)
{
	struct sact_bpf *b = NULL;
	int wake;

	for (wake = SACT_BPF_WAKE_RING_PER_P; wake <= SACT_BPF_WAKE_RING_FUTEX;
	     wake++) {
		struct waiter w = { 0 };
		pthread_t t;
		int slot;

		sact_bpf_open_or_skip(_metadata, 1, wake, &b);
		slot = sact_bpf_register(b);
		ASSERT_LE(0, slot);
		EXPECT_EQ(-ETIMEDOUT, sact_bpf_wait(b, slot, 0, 20, NULL));
		EXPECT_EQ(-EINVAL, sact_bpf_wait(b, SACT_BPF_MMAX_DEFAULT, 0, 0, NULL));
		if (wake == SACT_BPF_WAKE_RING_PER_P) {
			/* P 1 does not exist; no relay in this design. */
			EXPECT_EQ(-EINVAL, sact_bpf_wait(b, slot, 1, 0, NULL));
			EXPECT_EQ(-EINVAL, sact_bpf_relay(b, 0));
		} else {
			EXPECT_EQ(0, sact_bpf_relay(b, 0));	/* no event */
		}

		/* A waiter with no timeout, then stop. */
		w.b = b;
		ASSERT_EQ(0, pthread_create(&t, NULL, waiter_main, &w));
		t_wait_until(_metadata, __atomic_load_n(&w.started,
				__ATOMIC_ACQUIRE), "the waiter");
		if (wake == SACT_BPF_WAKE_RING_PER_P) {
			/* Wait until it sleeps: then a second one is -EBUSY. */
			t_wait_until(_metadata,
				     t_load64(&sact_bpf_mslot(b, w.slot)->idle_blocks),
				     "the waiter to sleep");
			EXPECT_EQ(-EBUSY, sact_bpf_wait(b, slot, 0, 0, NULL));
		}
		sact_bpf_stop(b);
		pthread_join(t, NULL);
		EXPECT_EQ(-ECANCELED, w.ret);
		sact_bpf_close(b);
		b = NULL;
	}
}

/* A P left HANDOFF (its event lost, say) is claimed without sleeping. */
TEST(wait_takes_a_handoff_p)
{
	struct sact_bpf *b = NULL;
	struct sact_bpf_shared *sh;
	int slot;

	sact_bpf_open_or_skip(_metadata, 1, SACT_BPF_WAKE_RING_PER_P, &b);
	sh = sact_bpf_shared(b);
	slot = sact_bpf_register(b);
	ASSERT_LE(0, slot);
	/* As the program leaves it after a handoff whose ring was full. */
	__atomic_store_n(&sh->p[0].own,
			 SACT_BPF_OWN(41, SACT_BPF_P_HANDOFF, 7), __ATOMIC_RELEASE);
	EXPECT_EQ(0, sact_bpf_wait(b, slot, 0, 0, NULL));
	EXPECT_EQ(SACT_BPF_OWN(42, SACT_BPF_P_OWNED, slot),
		  t_load64(&sh->p[0].own));
	EXPECT_EQ(1, sact_bpf_mslot(b, slot)->p);
	EXPECT_EQ(0, sact_bpf_p_release(b, 0, slot));
	sact_bpf_close(b);
}

TEST(bad_options)
{
	struct sact_bpf_opts o = { .size = sizeof(o), .nprocs = 1 };
	struct sact_bpf *b = (void *)1;
	char why[128] = "";

	o.nprocs = 0;
	EXPECT_EQ(-EINVAL, sact_bpf_open(&o, &b, why, sizeof(why)));
	EXPECT_EQ(NULL, b);
	EXPECT_NE(0, why[0]);
	o.nprocs = SACT_BPF_MAX_P + 1;
	EXPECT_EQ(-EINVAL, sact_bpf_open(&o, &b, NULL, 0));
	o.nprocs = 1;
	o.wake = 7;
	EXPECT_EQ(-EINVAL, sact_bpf_open(&o, &b, NULL, 0));
	o.wake = 0;
	o.mmax = -1;
	EXPECT_EQ(-EINVAL, sact_bpf_open(&o, &b, NULL, 0));
	o.mmax = SACT_BPF_MMAX_LIMIT + 1;	/* the P word's owner field */
	EXPECT_EQ(-EINVAL, sact_bpf_open(&o, &b, NULL, 0));
	o.mmax = 0;
	o.size = 4;
	EXPECT_EQ(-EINVAL, sact_bpf_open(&o, &b, NULL, 0));
}

/*
 * The M maps are sized at load (opts.mmax), not at compile time: with
 * mmax slots exactly mmax threads register (tids need not exist: the
 * program only looks them up), the next gets -ENOSPC, each slot is mapped
 * and zeroed, and the program finds a slot past the old fixed 256.
 */
struct blocked_writer {
	int fds[2];
	const __u64 *blocks;
};

/* Write once the program has counted a block (hang guard: 60 s). */
static void *write_once_blocked(void *arg)
{
	struct blocked_writer *w = arg;

	for (int i = 0; i < 60000 && !t_load64(w->blocks); i++)
		usleep(1000);
	if (write(w->fds[1], "x", 1) != 1)
		abort();
	return NULL;
}

FIXTURE(mmax) { struct sact_bpf *b; };
FIXTURE_SETUP(mmax) { self->b = NULL; }
FIXTURE_TEARDOWN(mmax) { sact_bpf_close(self->b); }
FIXTURE_VARIANT(mmax) { int mmax; };
FIXTURE_VARIANT_ADD(mmax, m300) { 300 };
FIXTURE_VARIANT_ADD(mmax, m4000) { 4000 };

TEST_F(mmax, sizes_the_maps)
{
	struct sact_bpf_opts o = { .size = sizeof(o), .nprocs = 1,
				   .mmax = variant->mmax };
	const char *req = getenv("SACT_REQUIRE_BPF");
	struct blocked_writer w;
	char why[256] = "", c;
	pthread_t t;
	int err, i, slot;

	err = sact_bpf_open(&o, &self->b, why, sizeof(why));
	if ((err == -EPERM || err == -EOPNOTSUPP) && !(req && !strcmp(req, "1")))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, err) TH_LOG("%s", why);
	/* slots are mapped as they are handed out, not at open: the map
	 * would otherwise be resident in every program (issue 24) */
	EXPECT_EQ(NULL, sact_bpf_mslot(self->b, variant->mmax - 1));
	/* this thread last, so that its slot is the highest */
	for (i = 0; i < variant->mmax - 1; i++)
		ASSERT_EQ(i, sact_bpf_register_tid(self->b, 1000000 + i));
	slot = sact_bpf_register(self->b);
	ASSERT_EQ(variant->mmax - 1, slot);
	EXPECT_EQ(-ENOSPC, sact_bpf_register_tid(self->b, 999999));
	EXPECT_EQ(NULL, sact_bpf_mslot(self->b, variant->mmax));
	EXPECT_EQ((__u32)gettid(), sact_bpf_mslot(self->b, slot)->tid);
	/* the program finds that slot: this thread's block counts there
	 * (a read that only the program's count can end: no timing) */
	ASSERT_EQ(0, pipe(w.fds));
	w.blocks = &sact_bpf_mslot(self->b, slot)->blocks;
	ASSERT_EQ(0, sact_bpf_p_acquire(self->b, 0, slot));
	ASSERT_EQ(0, pthread_create(&t, NULL, write_once_blocked, &w));
	sact_bpf_set_in_g(sact_bpf_mslot(self->b, slot), true);
	EXPECT_EQ(1, read(w.fds[0], &c, 1));
	sact_bpf_set_in_g(sact_bpf_mslot(self->b, slot), false);
	pthread_join(t, NULL);
	EXPECT_LE(1, t_load64(&sact_bpf_mslot(self->b, slot)->blocks));
	EXPECT_LE(1, t_load64(&sact_bpf_mslot(self->b, slot)->handoffs));
	EXPECT_EQ(0, sact_bpf_unregister(self->b, slot));
	close(w.fds[0]);
	close(w.fds[1]);
}

/* Without privilege: -EPERM and a one-line reason, nothing printed. */
TEST(unprivileged_eperm)
{
	struct sact_bpf_opts o = { .size = sizeof(o), .nprocs = 1 };
	int status, pfd[2], efd[2];
	char why[256] = "", err_out[256] = "";
	pid_t child;

	if (geteuid() != 0)
		SKIP(return, "must start as root to drop privilege");
	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(0, pipe(efd));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		struct sact_bpf *b;
		int err;

		close(pfd[0]);
		close(efd[0]);
		unsetenv("SACT_DEBUG");
		if (dup2(efd[1], 2) < 0)
			_exit(4);
		/* nobody, and no capabilities left (setresuid drops them). */
		if (setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(2);
		err = sact_bpf_open(&o, &b, why, sizeof(why));
		if (write(pfd[1], why, strlen(why)) < 0)
			_exit(3);
		_exit(err == -EPERM ? 0 : 1);
	}
	close(pfd[1]);
	close(efd[1]);
	ASSERT_LE(0, read(pfd[0], why, sizeof(why) - 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	/* Quiet unless SACT_DEBUG=1: libbpf's complaints are swallowed. */
	EXPECT_EQ(0, read(efd[0], err_out, sizeof(err_out) - 1))
		TH_LOG("stderr: %s", err_out);
	close(efd[0]);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("reason: %s", why);
	EXPECT_NE(NULL, strstr(why, "root")) TH_LOG("reason: %s", why);
	EXPECT_EQ(NULL, strchr(why, '\n'));
	close(pfd[0]);
}

static void nop_g(void *arg)
{
	(void)arg;
}

/*
 * sact_run as nobody (no capabilities), in a child, with SACT_DEBUG=debug
 * (NULL: unset): writes its result, then (AUTO only) the backend used,
 * to @out; stderr goes to @errfd.
 */
static void run_unprivileged(enum sact_backend be, const char *debug,
			     int out, int errfd)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 1,
				 .standby = -1, .backend = be };
	int r[2];

	if (debug)
		setenv("SACT_DEBUG", debug, 1);
	else
		unsetenv("SACT_DEBUG");
	if (dup2(errfd, 2) < 0)
		_exit(4);
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		_exit(2);
	r[0] = sact_run(&c, nop_g, NULL);
	r[1] = sact_backend();
	if (write(out, r, sizeof(r)) != sizeof(r))
		_exit(3);
	_exit(0);
}

/* sact_run with BPF (and AUTO) without privilege: -EPERM (AUTO: sysmon),
 * quiet, and one line on stderr with SACT_DEBUG=1. */
TEST(sact_run_unprivileged)
{
	static const struct {
		enum sact_backend be;
		const char *debug;
		int want, backend, lines;
	} c[] = {
		{ SACT_BACKEND_BPF, NULL, -EPERM, SACT_BACKEND_BPF, 0 },
		{ SACT_BACKEND_BPF, "1", -EPERM, SACT_BACKEND_BPF, 1 },
		{ SACT_BACKEND_AUTO, NULL, 0, SACT_BACKEND_SYSMON, 0 },
	};

	if (geteuid() != 0)
		SKIP(return, "must start as root to drop privilege");
	for (unsigned int i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int pfd[2], efd[2], r[2] = { 1, -1 }, status, lines = 0;
		char err_out[1024] = "";
		ssize_t n;
		pid_t child;

		ASSERT_EQ(0, pipe(pfd));
		ASSERT_EQ(0, pipe(efd));
		child = fork();
		ASSERT_LE(0, child);
		if (child == 0) {
			close(pfd[0]);
			close(efd[0]);
			run_unprivileged(c[i].be, c[i].debug, pfd[1], efd[1]);
		}
		close(pfd[1]);
		close(efd[1]);
		ASSERT_EQ(sizeof(r), read(pfd[0], r, sizeof(r))) TH_LOG("case %u", i);
		ASSERT_EQ(child, waitpid(child, &status, 0));
		n = read(efd[0], err_out, sizeof(err_out) - 1);
		for (ssize_t k = 0; k < n; k++)
			lines += err_out[k] == '\n';
		EXPECT_EQ(c[i].want, r[0]) TH_LOG("case %u", i);
		/* AUTO: not bpf; sysmon, or kmod where the module is loaded
		 * (the VM) and lets nobody in */
		if (c[i].want == 0 && access("/dev/sact", F_OK))
			EXPECT_EQ(c[i].backend, r[1]) TH_LOG("case %u", i);
		if (c[i].want == 0)
			EXPECT_NE(SACT_BACKEND_BPF, r[1]) TH_LOG("case %u", i);
		EXPECT_EQ(c[i].lines, lines) TH_LOG("case %u: %s", i, err_out);
		if (c[i].lines)
			EXPECT_NE(NULL, strstr(err_out, "sact: backend bpf "
					       "unavailable: bpf: ")) TH_LOG("%s", err_out);
		close(pfd[0]);
		close(efd[0]);
	}
}

TEST_HARNESS_MAIN
