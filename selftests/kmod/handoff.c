// SPDX-License-Identifier: GPL-2.0
/*
 * handoff.c - upcalls and strict mode: a standby parked in the module is
 * woken holding the blocked worker's P (preferring one that parked on the
 * blocking CPU); a signal ends a park, but a STANDBY is restarted after a
 * SA_RESTART handler or a stop; in a strict group an unblocked worker
 * whose P was handed off parks until it is granted one, reclaims a free
 * one, or gets a signal (and then holds none: kproc says so).
 *
 * M 0 is the test's main thread and holds P 0; standbys are M 1, 2...
 */
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "sact_test.h"
#include "kmod_util.h"

FIXTURE(ho) {
	struct kgroup g;
};

static void on_sigusr1(int sig)
{
	(void)sig;
}

FIXTURE_SETUP(ho)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };	/* no SA_RESTART */

	KG_SETUP_WORKER0(&self->g);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
}

FIXTURE_TEARDOWN(ho)
{
	kg_close(&self->g);
}

struct sb {
	struct kgroup *g;
	uint32_t m;
	int cpu;		/* pin there, or -1 */
	int ret;		/* of SACT_IOC_STANDBY */
	int grant_to;		/* >= 0: then wait for it to park, grant P */
	int grant_ret;
	uint32_t kstate_seen;
	uint32_t my_kproc, my_kstate;	/* own slot after the standby */
	pthread_t t;
};

static void *sb_main(void *p)
{
	struct sb *s = p;

	if (s->cpu >= 0 && kt_pin(s->cpu))
		abort();
	if (kg_register(s->g, s->m))
		abort();
	s->ret = kg_standby(s->g);
	s->my_kproc = kg_load(&s->g->ms[s->m].kproc);
	s->my_kstate = kg_load(&s->g->ms[s->m].kstate);
	if (s->ret >= 0 && s->grant_to >= 0) {
		uint32_t *ks = &s->g->ms[s->grant_to].kstate;

		if (!kt_wait_until(kg_load(ks) == SACT_MK_PARKED)) {
			s->grant_ret = -ETIMEDOUT;
			return NULL;
		}
		s->kstate_seen = kg_load(ks);
		s->grant_ret = kg_grant(s->g, s->grant_to, s->ret);
	}
	return NULL;
}

static void sb_start(struct __test_metadata *_metadata, struct sb *s,
		     struct kgroup *g, uint32_t m, int cpu, int grant_to)
{
	*s = (struct sb){ .g = g, .m = m, .cpu = cpu, .ret = -1000,
			  .grant_to = grant_to };
	ASSERT_EQ(0, pthread_create(&s->t, NULL, sb_main, s));
}

static void wait_standbys(struct __test_metadata *_metadata,
			  struct kgroup *g, uint64_t n)
{
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == n));
}

TEST_F(ho, standby_gets_the_p)
{
	struct kgroup *g = &self->g;
	struct sact_counters c;
	struct sb s;

	sb_start(_metadata, &s, g, 1, -1, -1);
	wait_standbys(_metadata, g, 1);
	EXPECT_EQ(SACT_MK_STANDBY, g->ms[1].kstate);

	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 1), kg_pword(g, 0));
	EXPECT_EQ(0, s.my_kproc);
	EXPECT_EQ(SACT_MK_RUNNING, s.my_kstate);
	/* the standby thread exited: the kernel unregisters it */
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, workers) == 1));
	EXPECT_EQ(SACT_MK_UNREGISTERED, g->ms[1].kstate);
	EXPECT_EQ(0, g->ms[1].tid);

	c = kg_counters(g);
	EXPECT_EQ(1, c.blocks);
	EXPECT_EQ(1, c.unblocks);
	EXPECT_EQ(1, c.handoffs);
	EXPECT_EQ(1, c.upcalls);
	EXPECT_EQ(0, c.standbys);
	EXPECT_EQ(1, c.workers);
	EXPECT_EQ(1, g->procs[0].handoffs);
	EXPECT_EQ(1, g->ms[0].blocks);
	EXPECT_EQ(1, g->ms[0].unblocks);
}

/* Two standbys pinned to CPU 0 and 1: the one on the blocking CPU wins. */
TEST_F(ho, prefers_standby_on_blocking_cpu)
{
	struct kgroup *g = &self->g;
	struct sb s0, s1;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs 2 CPUs");
	sb_start(_metadata, &s0, g, 1, 0, -1);
	sb_start(_metadata, &s1, g, 2, 1, -1);
	wait_standbys(_metadata, g, 2);

	ASSERT_EQ(0, kt_pin(1));
	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(s1.t, NULL));
	EXPECT_EQ(0, s1.ret);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 2), kg_pword(g, 0));
	EXPECT_EQ(1, KG_COUNTER(g, standbys));

	kg_force(g, 0, 0);
	ASSERT_EQ(0, kt_pin(0));
	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(s0.t, NULL));
	EXPECT_EQ(0, s0.ret);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 1), kg_pword(g, 0));
	EXPECT_EQ(2, KG_COUNTER(g, upcalls));
	EXPECT_EQ(2, KG_COUNTER(g, handoffs));
}

TEST_F(ho, signal_ends_standby)
{
	struct kgroup *g = &self->g;
	struct sb s;

	sb_start(_metadata, &s, g, 1, -1, -1);
	wait_standbys(_metadata, g, 1);
	ASSERT_EQ(0, pthread_kill(s.t, SIGUSR1));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(-EINTR, s.ret);
	EXPECT_EQ(0, KG_COUNTER(g, standbys));
	EXPECT_EQ(0, KG_COUNTER(g, upcalls));
	EXPECT_EQ(SACT_MK_RUNNING, s.my_kstate);
	/* the P did not move */
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
}

/*
 * More than SACT_MAX_STANDBY (the old cap) stand by at once: elastic Ms
 * waiting with a G (not strict) may all be there.
 */
#define MANY_STANDBYS	(SACT_MAX_STANDBY + 8)
TEST_F(ho, standbys_beyond_old_cap)
{
	struct kgroup *g = &self->g;
	struct sb s[MANY_STANDBYS];
	int i;

	for (i = 0; i < MANY_STANDBYS; i++)
		sb_start(_metadata, &s[i], g, 1 + i, -1, -1);
	wait_standbys(_metadata, g, MANY_STANDBYS);
	for (i = 0; i < MANY_STANDBYS; i++) {
		ASSERT_EQ(0, pthread_kill(s[i].t, SIGUSR1));
		ASSERT_EQ(0, pthread_join(s[i].t, NULL));
		EXPECT_EQ(-EINTR, s[i].ret);
	}
	EXPECT_EQ(0, KG_COUNTER(g, standbys));
}

/* Strict: the standby took P 0, so M 0 parks until the standby grants it. */
TEST_F(ho, strict_park_until_grant)
{
	struct kgroup *g = &self->g;
	struct sact_counters c;
	struct sb s;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 1));
	sb_start(_metadata, &s, g, 1, -1, 0);
	wait_standbys(_metadata, g, 1);

	ASSERT_EQ(0, kt_block_once(g, 0, 0));	/* returns once granted */
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(SACT_MK_PARKED, s.kstate_seen);
	EXPECT_EQ(0, s.grant_ret);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
	EXPECT_EQ(0, g->ms[0].kproc);
	EXPECT_EQ(SACT_MK_RUNNING, g->ms[0].kstate);

	c = kg_counters(g);
	EXPECT_EQ(1, c.blocks);
	EXPECT_EQ(1, c.unblocks);
	EXPECT_EQ(1, c.upcalls);
	EXPECT_EQ(1, c.strict_parks);
	EXPECT_EQ(1, c.grants);
	EXPECT_EQ(0, c.reclaims);
}

/* Strict, no standby: the P went FREE; the unblock takes it back. */
TEST_F(ho, strict_reclaims_free_p)
{
	struct kgroup *g = &self->g;
	struct sact_counters c;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 1));
	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
	EXPECT_EQ(0, g->ms[0].kproc);
	c = kg_counters(g);
	EXPECT_EQ(1, c.blocks);
	EXPECT_EQ(1, c.handoffs);
	EXPECT_EQ(1, c.reclaims);
	EXPECT_EQ(0, c.strict_parks);
	EXPECT_EQ(0, g->ms[0].kproc);
}

struct kicker {
	struct kgroup *g;
	pthread_t target;
	int ok;
};

static void *kick_when_parked(void *p)
{
	struct kicker *k = p;

	k->ok = kt_wait_until(kg_load(&k->g->ms[0].kstate) == SACT_MK_PARKED);
	pthread_kill(k->target, SIGUSR1);
	return NULL;
}

/*
 * Strict, blocked in io_uring_enter() waiting for a recv on a unix socket
 * (a pipe would not do: 6.1 reads pipes in an io-wq worker, which posts
 * the CQE itself): the send's completion wakes M 0 with a task_work, and
 * its unblock (a strict park: the standby took P 0) runs in the same
 * task_work batch, inside io_uring's wait loop.  The park must come after the completion is
 * posted: the standby sees the CQE in M 0's ring while M 0 is parked, and
 * only then grants P 0 back.  (Parked first, M 0 would withhold its own
 * CQE until a grant that never comes.)
 */
struct ringpark {
	struct kgroup *g;
	struct io_uring ring;
	int fds[2];
	int p, seen_parked, cqe_while_parked, grant_ret;
	pthread_t t;
};

static void *ringpark_standby(void *arg)
{
	struct ringpark *r = arg;

	if (kg_register(r->g, 1))
		abort();
	r->p = kg_standby(r->g);	/* woken with P 0 by M 0's block */
	if (r->p < 0)
		return NULL;
	/* M 0 is blocked: the send's completion wakes it */
	if (write(r->fds[1], "r", 1) != 1)
		abort();
	r->seen_parked = kt_wait_until(kg_load(&r->g->ms[0].kstate) ==
				       SACT_MK_PARKED);
	r->cqe_while_parked = kt_wait_until(io_uring_cq_ready(&r->ring) > 0) &&
			      kg_load(&r->g->ms[0].kstate) == SACT_MK_PARKED;
	r->grant_ret = kg_grant(r->g, 0, r->p);
	return NULL;
}

TEST_F(ho, strict_park_after_ring_completions)
{
	struct kgroup *g = &self->g;
	struct ringpark r = { .g = g, .p = -1000 };
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	char c = 0;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 1));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				r.fds));
	ASSERT_EQ(0, io_uring_queue_init(4, &r.ring, 0));
	sqe = io_uring_get_sqe(&r.ring);
	io_uring_prep_recv(sqe, r.fds[0], &c, 1, 0);
	ASSERT_EQ(1, io_uring_submit(&r.ring));
	ASSERT_EQ(0, pthread_create(&r.t, NULL, ringpark_standby, &r));
	wait_standbys(_metadata, g, 1);

	kg_running(g, 0, 0);
	ASSERT_EQ(0, io_uring_wait_cqe(&r.ring, &cqe));
	kg_idle(g, 0);
	ASSERT_EQ(0, pthread_join(r.t, NULL));
	EXPECT_EQ(1, cqe->res);
	EXPECT_EQ('r', c);
	io_uring_cqe_seen(&r.ring, cqe);
	EXPECT_EQ(0, r.p);
	EXPECT_TRUE(r.seen_parked);
	EXPECT_TRUE(r.cqe_while_parked);
	EXPECT_EQ(0, r.grant_ret);
	EXPECT_EQ(0, g->ms[0].kproc);
	EXPECT_EQ(1, KG_COUNTER(g, strict_parks));
	io_uring_queue_exit(&r.ring);
	close(r.fds[0]);
	close(r.fds[1]);
}

/*
 * Strict: a debugger attaching to a parked M gets it.  A child seizes
 * M 0 while it is parked and interrupts it: M 0 leaves the park without a
 * P (a signal: kproc SACT_NONE) and enters the trace stop; detached, it
 * runs on.
 */
struct tracer {
	struct kgroup *g;
	pid_t tid;
	int ok;
};

static void *trace_when_parked(void *arg)
{
	struct tracer *t = arg;
	pid_t child;
	int st;

	if (!kt_wait_until(kg_load(&t->g->ms[0].kstate) == SACT_MK_PARKED))
		return NULL;
	child = fork();
	if (child == 0) {
		int ws;

		if (ptrace(PTRACE_SEIZE, t->tid, 0, 0) ||
		    ptrace(PTRACE_INTERRUPT, t->tid, 0, 0))
			_exit(1);
		alarm(60);	/* a park that ignores the debugger: fail */
		if (waitpid(t->tid, &ws, __WALL) != t->tid ||
		    !WIFSTOPPED(ws))
			_exit(2);
		_exit(ptrace(PTRACE_DETACH, t->tid, 0, 0) ? 3 : 0);
	}
	if (child < 0 || waitpid(child, &st, 0) != child)
		return NULL;
	t->ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	return NULL;
}

TEST_F(ho, strict_park_lets_a_debugger_attach)
{
	struct kgroup *g = &self->g;
	struct tracer tr = { .g = g, .tid = kt_gettid() };
	pthread_t tt;
	struct sb s;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 1));
	sb_start(_metadata, &s, g, 1, -1, -1);
	wait_standbys(_metadata, g, 1);
	ASSERT_EQ(0, pthread_create(&tt, NULL, trace_when_parked, &tr));

	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(tt, NULL));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_TRUE(tr.ok);
	EXPECT_EQ(SACT_NONE, g->ms[0].kproc);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 1), kg_pword(g, 0));
	EXPECT_EQ(1, KG_COUNTER(g, strict_parks));
	EXPECT_EQ(0, KG_COUNTER(g, grants));
}

/* Strict: a signal ends the park; the P stays with the standby. */
TEST_F(ho, strict_park_ends_on_signal)
{
	struct kgroup *g = &self->g;
	struct kicker k = { .g = g, .target = pthread_self() };
	struct sact_counters c;
	pthread_t kt;
	struct sb s;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 1));
	sb_start(_metadata, &s, g, 1, -1, -1);
	wait_standbys(_metadata, g, 1);
	ASSERT_EQ(0, pthread_create(&kt, NULL, kick_when_parked, &k));

	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(kt, NULL));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_TRUE(k.ok);
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 1), kg_pword(g, 0));
	EXPECT_EQ(SACT_MK_RUNNING, g->ms[0].kstate);
	c = kg_counters(g);
	EXPECT_EQ(1, c.strict_parks);
	EXPECT_EQ(0, c.grants);
	EXPECT_EQ(1, c.unblocks);
}

/*
 * Strict: a park that a signal ends gives no P, and the slot says so
 * (kproc SACT_NONE), though an earlier reclaim had set kproc.
 */
TEST_F(ho, strict_park_ended_by_signal_leaves_no_kproc)
{
	struct kgroup *g = &self->g;
	struct kicker k = { .g = g, .target = pthread_self() };
	pthread_t kt;
	struct sb s;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 1));
	ASSERT_EQ(0, kt_block_once(g, 0, 0));	/* a reclaim: kproc 0 */
	ASSERT_EQ(0, g->ms[0].kproc);
	sb_start(_metadata, &s, g, 1, -1, -1);
	wait_standbys(_metadata, g, 1);
	ASSERT_EQ(0, pthread_create(&kt, NULL, kick_when_parked, &k));
	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(kt, NULL));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_TRUE(k.ok);
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 1), kg_pword(g, 0));
	EXPECT_EQ(SACT_NONE, g->ms[0].kproc);
	EXPECT_EQ(1, KG_COUNTER(g, strict_parks));
}

static atomic_int usr2_seen;

static void on_sigusr2(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr2_seen, 1);
}

/*
 * A signal whose handler has SA_RESTART: STANDBY is restarted (it
 * returned -EINTR), and then returns the P a block hands it.
 */
TEST_F(ho, standby_restarts_after_a_handler)
{
	struct sigaction sa = { .sa_handler = on_sigusr2,
				.sa_flags = SA_RESTART };
	struct kgroup *g = &self->g;
	struct sb s;

	ASSERT_EQ(0, sigaction(SIGUSR2, &sa, NULL));
	atomic_store(&usr2_seen, 0);
	sb_start(_metadata, &s, g, 1, -1, -1);
	wait_standbys(_metadata, g, 1);
	ASSERT_EQ(0, pthread_kill(s.t, SIGUSR2));
	ASSERT_TRUE(kt_wait_until(atomic_load(&usr2_seen) == 1));
	/* it left the ioctl for the handler: back in it, or returned */
	ASSERT_TRUE(kt_wait_until(KG_COUNTER(g, standbys) == 1 ||
				  s.ret != -1000));
	EXPECT_EQ(-1000, s.ret);
	ASSERT_EQ(1, KG_COUNTER(g, standbys));
	ASSERT_EQ(0, kt_block_once(g, 0, 0));
	ASSERT_EQ(0, pthread_join(s.t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(SACT_PW(SACT_P_HANDOFF, 1), kg_pword(g, 0));
}

/*
 * Job control: SIGSTOP then SIGCONT of a process whose standby is
 * parked.  The stop interrupts the ioctl; with no handler to run, it is
 * restarted, and the standby still gets the next handoff.  (The freezer
 * of cgroup v2 and suspend's stop tasks the same way; TASK_FREEZABLE
 * lets suspend freeze it without even waking it.)
 */
static int stop_child(int wfd, int rfd)
{
	struct kgroup g;
	struct sb s;
	char go;

	if (kg_open(&g) || kg_register(&g, 0) || !kg_acquire(&g, 0, 0))
		return 10;
	s = (struct sb){ .g = &g, .m = 1, .cpu = -1, .ret = -1000,
			 .grant_to = -1 };
	if (pthread_create(&s.t, NULL, sb_main, &s))
		return 11;
	if (!kt_wait_until(KG_COUNTER(&g, standbys) == 1))
		return 12;
	if (write(wfd, "r", 1) != 1 || read(rfd, &go, 1) != 1)
		return 13;
	/* stopped and continued meanwhile */
	if (!kt_wait_until(KG_COUNTER(&g, standbys) == 1 || s.ret != -1000))
		return 14;
	if (s.ret != -1000)
		return 20 + (s.ret == -EINTR);	/* 21: -EINTR */
	if (kt_block_once(&g, 0, 0) || pthread_join(s.t, NULL))
		return 15;
	return s.ret == 0 ? 0 : 16;
}

TEST(standby_survives_sigstop_sigcont)
{
	int up[2], down[2], st, fd;
	pid_t pid;
	char r;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(stop_child(up[1], down[0]));
	ASSERT_EQ(1, read(up[0], &r, 1));
	ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_EQ(pid, waitpid(pid, &st, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(st));
	ASSERT_EQ(0, kill(pid, SIGCONT));
	ASSERT_EQ(pid, waitpid(pid, &st, WCONTINUED));
	ASSERT_TRUE(WIFCONTINUED(st));
	ASSERT_EQ(1, write(down[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

/* "frozen" in dir's cgroup.events: 0 or 1, or -1. */
static int cg_frozen(const char *dir)
{
	char path[256], key[32];
	int v = -1, x;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fscanf(f, "%31s %d", key, &x) == 2)
		if (!strcmp(key, "frozen"))
			v = x;
	fclose(f);
	return v;
}

/*
 * The same around a cgroup v2 freeze (root): the freezer traps the
 * standby the way a stop does, on its way out of the interrupted STANDBY,
 * and after the thaw STANDBY is restarted, not failed with -EINTR.
 */
TEST(standby_survives_a_cgroup_freeze)
{
	int up[2], down[2], st, fd;
	char dir[128], spid[16];
	pid_t pid;
	char r;

	sact_open_dev_or_skip(_metadata, &fd);
	close(fd);
	if (geteuid())
		SKIP(return, "needs root (a cgroup)");
	ASSERT_EQ(0, kt_cgroup_mounted());
	snprintf(dir, sizeof(dir), KT_CGROOT "/sact-freeze-%d", getpid());
	ASSERT_EQ(0, mkdir(dir, 0755));
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(stop_child(up[1], down[0]));
	ASSERT_EQ(1, read(up[0], &r, 1));
	snprintf(spid, sizeof(spid), "%d", pid);
	ASSERT_EQ(0, kt_write_file(dir, "cgroup.procs", spid));
	ASSERT_EQ(0, kt_write_file(dir, "cgroup.freeze", "1"));
	EXPECT_TRUE(kt_wait_until(cg_frozen(dir) == 1));
	ASSERT_EQ(0, kt_write_file(dir, "cgroup.freeze", "0"));
	EXPECT_TRUE(kt_wait_until(cg_frozen(dir) == 0));
	ASSERT_EQ(1, write(down[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	EXPECT_EQ(0, rmdir(dir));
}

static uint32_t fword;

struct granter {
	struct kgroup *g;
	int ret;
	int blocked;
};

/* Standby M 1: take P 0, grant it back while M 0 still sleeps, wake it. */
static void *grant_while_blocked(void *p)
{
	struct granter *gr = p;
	int proc;

	if (kg_register(gr->g, 1))
		abort();
	proc = kg_standby(gr->g);
	if (proc != 0) {
		gr->ret = -1000 + proc;
		goto out_wake;
	}
	gr->blocked = kg_load(&gr->g->ms[0].kstate) == SACT_MK_BLOCKED;
	gr->ret = kg_grant(gr->g, 0, 0);
out_wake:
	__atomic_store_n(&fword, 1, __ATOMIC_RELEASE);
	kt_futex(&fword, FUTEX_WAKE_PRIVATE, 1);
	return NULL;
}

TEST_F(ho, strict_grant_before_unblock)
{
	struct kgroup *g = &self->g;
	struct granter gr = { .g = g };
	struct sact_counters c;
	pthread_t t;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT, 1));
	ASSERT_EQ(0, pthread_create(&t, NULL, grant_while_blocked, &gr));
	wait_standbys(_metadata, g, 1);
	kg_running(g, 0, 0);
	while (!__atomic_load_n(&fword, __ATOMIC_ACQUIRE))
		kt_futex(&fword, FUTEX_WAIT_PRIVATE, 0);
	kg_idle(g, 0);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, gr.ret);
	EXPECT_TRUE(gr.blocked);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
	c = kg_counters(g);
	EXPECT_EQ(1, c.blocks);
	EXPECT_EQ(1, c.grants);
	EXPECT_EQ(0, c.strict_parks);
	EXPECT_EQ(0, g->ms[0].kproc);
}

static uint32_t tword;

struct blocked_m1 {
	struct kgroup *g;
	uint32_t says;		/* the P its slot names: 1, or a stale one */
	int err;
	uint32_t kproc;
};

/* M 1 holds P 1, says it runs on P b->says, blocks until tword is set. */
static void *block_m1(void *p)
{
	struct blocked_m1 *b = p;

	if ((b->err = kg_register(b->g, 1)))
		return NULL;
	if (!kg_acquire(b->g, 1, 1)) {
		b->err = -1;
		return NULL;
	}
	kg_running(b->g, 1, b->says);
	while (!__atomic_load_n(&tword, __ATOMIC_ACQUIRE))
		kt_futex(&tword, FUTEX_WAIT_PRIVATE, 0);
	kg_idle(b->g, 1);
	b->kproc = kg_load(&b->g->ms[1].kproc);
	return NULL;
}

/* GRANT's rules: whose P may be given, to whom, how often. */
TEST_F(ho, grant_rules)
{
	struct kgroup *g = &self->g;
	struct blocked_m1 b = { .g = g, .says = 1 };
	pthread_t t;

	ASSERT_EQ(0, kg_config(g, 0, 4));
	EXPECT_EQ(-ENOENT, kg_grant(g, 1, 0));		/* no M 1 yet */
	ASSERT_EQ(0, pthread_create(&t, NULL, block_m1, &b));
	ASSERT_TRUE(kt_wait_until(kg_load(&g->ms[1].kstate) ==
				  SACT_MK_BLOCKED));
	EXPECT_EQ(-EAGAIN, kg_grant(g, 0, 0));		/* M 0 waits for none */
	kg_force(g, 2, 3);
	EXPECT_EQ(-EBUSY, kg_grant(g, 1, 2));		/* P 2 is M 3's */
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 3), kg_pword(g, 2));
	EXPECT_EQ(0, kg_grant(g, 1, 0));		/* ours: P 0 */
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 0));
	EXPECT_EQ(-EBUSY, kg_grant(g, 1, 3));		/* it has one */
	EXPECT_EQ(SACT_P_FREE, kg_pword(g, 3));
	EXPECT_EQ(-EBUSY, kg_grant(g, 1, 0));		/* not ours any more */
	__atomic_store_n(&tword, 1, __ATOMIC_RELEASE);
	kt_futex(&tword, FUTEX_WAKE_PRIVATE, 1);
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, b.err);
	EXPECT_EQ(0, b.kproc);				/* the grant, consumed */
	EXPECT_EQ(1, KG_COUNTER(g, grants));
	EXPECT_EQ(1, KG_COUNTER(g, blocks));
	EXPECT_EQ(1, KG_COUNTER(g, unblocks));
}

/*
 * A block that took no P gets no grant: M 1 holds P 1 but its slot still
 * names P 2 (a P given to it while it waited, which user space has not
 * adopted yet, and a stale slot), so its block hands nothing off.  A grant
 * would make it the holder of two Ps, and user space adopts one: the other
 * would be lost for good (a runtime hang, found by the backends stress).
 */
TEST_F(ho, grant_refused_to_a_block_that_took_no_p)
{
	struct kgroup *g = &self->g;
	struct blocked_m1 b = { .g = g, .says = 2 };
	struct sact_counters c;
	pthread_t t;

	ASSERT_EQ(0, kg_config(g, SACT_CONFIG_STRICT | SACT_CONFIG_POOL, 4));
	kg_force(g, 2, 3);
	ASSERT_EQ(0, pthread_create(&t, NULL, block_m1, &b));
	ASSERT_TRUE(kt_wait_until(kg_load(&g->ms[1].kstate) ==
				  SACT_MK_BLOCKED));
	EXPECT_EQ(-EAGAIN, kg_grant(g, 1, 0));		/* it holds P 1 */
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 0), kg_pword(g, 0));
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 1));
	EXPECT_EQ(-EAGAIN, kg_grant(g, 1, 3));		/* a FREE P neither */
	EXPECT_EQ(SACT_P_FREE, kg_pword(g, 3));
	__atomic_store_n(&tword, 1, __ATOMIC_RELEASE);
	kt_futex(&tword, FUTEX_WAKE_PRIVATE, 1);
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, b.err);
	EXPECT_EQ(SACT_NONE, b.kproc);			/* given nothing */
	c = kg_counters(g);
	EXPECT_EQ(0, c.grants);
	EXPECT_EQ(0, c.handoffs);
	EXPECT_EQ(0, c.strict_parks);
	EXPECT_EQ(1, c.blocks);
	EXPECT_EQ(1, c.unblocks);
	EXPECT_EQ(SACT_PW(SACT_P_OWNED, 1), kg_pword(g, 1));
}

KT_TEST_MODULE_REFS_SETTLE

TEST_HARNESS_MAIN
