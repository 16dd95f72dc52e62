// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kmod_backend.c - the kmod backend: the module (/dev/sact) tells us, at the
 * instant an M blocks in the kernel, by handing its P to a standby M it
 * keeps parked; strict mode keeps the M from running G code again until it
 * holds a P.  See include/uapi/linux/sact.h for the module's side.
 *
 * Two views of one P, kept in step
 * --------------------------------
 * The runtime's own view (struct p: status, m, the idle list) and the
 * module's P word (FREE / OWNED|m / HANDOFF|s, changed by cmpxchg only).
 * The module changes a word only when an M it sees as "running G code on
 * P p" (its slot: state RUNNING, proc p) blocks while the word names it.
 * So the runtime maps its states onto words as follows:
 *
 *	runtime                         P word
 *	on the idle list (P_IDLE)       IDLE_W = OWNED|0xffff (no such M:
 *	                                the module never touches it, and a
 *	                                blocked M's reclaim cannot take it)
 *	held by M m (RUNNING/SYSCALL)   OWNED|m (or HANDOFF|m: same thing)
 *	taken from a blocked M          HANDOFF|s (given to standby s) or
 *	                                FREE (no standby was parked)
 *
 * An M publishes "G code on P p" with plain stores (kmod_publish) on every
 * switch to a G, and "not G code" on every switch to g0 and around the
 * runtime's own blocking calls on a G stack (a contended lock's futex,
 * stack mmaps: m_kblock_begin/end).  No locked instruction on the hot
 * path: entersyscall adds nothing, exitsyscall one load of the M's own
 * slot (its unblock count).
 *
 * The protocol, one P p held by M m running G g (strict mode, always on):
 *
 *  1. Block.  m blocks in the kernel, wrapped (sact_syscall) or not (libc,
 *     page fault).  The module CASes word[p] OWNED|m -> HANDOFF|s and
 *     wakes standby s (SACT_IOC_STANDBY returns p), or -> FREE when no
 *     standby is parked.  Either way m's unblock count will move.
 *  2. Take over.  s (or, for a FREE word, any M about to park, or the
 *     monitor on behalf of a waiting M) owns p by the word.  Under
 *     sched.lock it marks the old holder m->needp ("lost its P, waits for
 *     one"), then CASes p's status P_SYSCALL -> P_RUNNING (m may have been
 *     in a wrapped call; the CAS makes m's own exitsyscall CAS fail should
 *     it ever run), sets p->m and runs the scheduler on p at once.
 *  3. Unblock.  When m runs again the module (strict) takes p back if the
 *     word is still FREE (nobody took it: nothing changed, m goes on), else
 *     parks m in the kernel until a GRANT.
 *  4. Grant.  Every P the runtime is about to idle (pidleput, sched.lock
 *     held) first goes to an M with needp: the caller owns the word (an
 *     idle P's IDLE_W is CASed to OWNED|caller first), sets p->m and the
 *     status, and SACT_IOC_GRANT moves the word to OWNED|m and wakes m.
 *     needp is set (2) and cleared (4) under sched.lock, and every P
 *     release looks at it under that lock, so no P goes idle while an M
 *     waits for one - except a P that is FREE in the module (taken from a
 *     blocked M with no standby), which the runtime does not see; the
 *     monitor thread (5) covers that.
 *  5. Monitor.  A FREE word while an M waits (needp) can deadlock: the M
 *     that blocked may wait for the one parked.  A monitor thread (the "+1"
 *     thread; it sleeps unless some M waits) grants FREE Ps to waiting Ms
 *     every millisecond.  GRANT of a FREE P needs no ownership.  A FREE
 *     word while no M waits (the block came while the pool standby was
 *     between sched.lock and its ioctl, not yet in the module's list)
 *     gets a pool standby kicked out of the ioctl (signal) every 2 ms
 *     until one takes it; a lost kick is repeated.
 *  6. Resync.  m is back in user space holding a P: its own (the word
 *     still names it: nothing happened, or the module reclaimed it) or the
 *     one granted (the slot's kproc, whose word names m).  A wrapped call
 *     finds out in exitsyscall (the exit_syscall hook swaps m->oldp for the
 *     granted P, so the one CAS there stays the authority); G code that
 *     blocked unwrapped finds out at its next entry into the runtime
 *     (getm -> m_resync) or when it exits (goexit).  The check is one load
 *     of the M's own unblock count.
 *
 * Races, and why they end with one owner:
 *  - exitsyscall vs handoff: in strict mode m cannot return to user space
 *    without owning a word, so its exitsyscall runs after (3) or (4), never
 *    against (2); the status CAS in (2) is there for non-strict use.
 *  - reclaim (3) vs takeover of a FREE word (2): one cmpxchg on the word.
 *  - grant (4) vs m coming back: GRANT accepts an M that is still blocked
 *    (the grant is taken at unblock, no park) or parked.
 *  - a second block before the resync: the slot still names the old P,
 *    whose word is someone else's: the module hands nothing off, m keeps
 *    the granted P while blocked (less parallelism, never two owners).
 *
 * Accepted weaknesses: a page fault that sleeps inside the runtime's own
 * code on a G stack (mmap_lock contention) hands the P off in the middle
 * of the runtime's bookkeeping; the stack mmaps and lock waits are covered
 * (m_kblock_*), a stray fault is not.  A signal that interrupts a strict
 * park returns an M without a P: the runtime throws.  Standbys parked in
 * the module are not on the idle list, so wakep() cannot use them: with
 * few Ms, an idle P may wait for its work until a busy M gets to it.
 *
 * Rejected: reading the module's event ring (one more consumer on the hot
 * path: the words already say everything the scheduler needs; the ring
 * tail is advanced only so the module does not count overflows); waking
 * module standbys from startm() with a signal (a signal sent between the
 * standby's last check and its ioctl is lost).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

/* The module's struct sact_config and the runtime's share a name. */
#define sact_config sact_kconfig
#include <linux/sact.h>
#undef sact_config
/* SACT_IOC_CONFIG names the struct: expand it with the module's */
#define KIOC_CONFIG	_IOW(SACT_IOC_MAGIC, 0x01, struct sact_kconfig)

#include "internal.h"

#define IDLE_OWNER	0xffffU
#define IDLE_W		SACT_PW(SACT_P_OWNED, IDLE_OWNER)
#define KOWN(m)		SACT_PW(SACT_P_OWNED, (uint32_t)(m)->id)
#define KHAND(m)	SACT_PW(SACT_P_HANDOFF, (uint32_t)(m)->id)

#define KMON_POLL_NS	1000000		/* while an M waits for a P */
#define KMON_IDLE_NS	2000000		/* otherwise: look for FREE Ps */

static int kfd = -1;
static void *kshm;
static struct sact_shm_header *khdr;
static struct sact_proc *kprocs;
static struct sact_mslot *kslots;
static int ksig;			/* wakes module standbys at exit */
static struct sigaction ksig_old;
static pthread_t kmon_thread;
static bool kmon_running;
static _Atomic uint32_t kmon_stop;
static _Atomic uint32_t kmon_wake;	/* futex: 1 = someone waits */

static inline _Atomic uint32_t *pword(int p)
{
	return (_Atomic uint32_t *)&kprocs[p].word;
}

static inline uint32_t kload(const uint32_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

uint32_t kmod_unblocks(const struct sact_mslot *ks)
{
	return kload(&ks->unblocks);
}

uint32_t kmod_state_swap(struct sact_mslot *ks, uint32_t state)
{
	uint32_t old = kload(&ks->state);

	__atomic_store_n(&ks->state, state, __ATOMIC_RELAXED);
	/* the module reads it on this thread's own switch-out: program
	 * order is enough, but the compiler must not move it past a call */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return old;
}

void kmod_publish(struct m *m, bool in_g)
{
	struct sact_mslot *ks = m->ks;

	if (in_g && m->p) {
		__atomic_store_n(&ks->proc, (uint32_t)m->p->id,
				 __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(&ks->state, SACT_M_RUNNING, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&ks->state, SACT_M_IDLE, __ATOMIC_RELAXED);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static bool word_is_mine(uint32_t w, struct m *m)
{
	return w == KOWN(m) || w == KHAND(m);
}

/* Step 6: m runs again after a block; adopt the P it now holds. */
void kmod_resync(struct m *m)
{
	struct sact_mslot *ks = m->ks;
	struct p *pp;
	uint32_t y;

	m->kseen = kmod_unblocks(ks);
	if (!m->p)
		return;
	pp = m->p;
	if (!word_is_mine(ld(pword(pp->id)), m)) {
		y = kload(&ks->kproc);
		if (y >= (uint32_t)sched.nprocs || ld(pword(y)) != KOWN(m))
			throw("sact: kmod: M back from a block without a P");
		pp = &sched.allp[y];
		m->p = pp;
		st(&pp->status, P_RUNNING);
		__atomic_store_n(&ks->proc, y, __ATOMIC_RELAXED);
	}
	/*
	 * The module's reclaim gives m its P back when the word is FREE -
	 * which also happens when another M took the P over (step 2) and
	 * then blocked itself.  Then that M is the one that lost it.
	 */
	if (pp->m != m || m->needp) {
		lock_acquire(&sched.lock);
		if (pp->m && pp->m != m) {
			pp->m->needp = true;
			st(&kmon_wake, 1);
			futex_wake(&kmon_wake, 1);
		}
		pp->m = m;
		m->needp = false;
		lock_release(&sched.lock);
	}
}

/* Step 6 for a wrapped call: the CAS in exitsyscall then takes the P. */
static void kmod_exit_syscall(struct m *m, struct p *pp)
{
	if (likely(kmod_unblocks(m->ks) == m->kseen))
		return;
	kmod_resync(m);
	/*
	 * m owns m->p by its word now: its own P (reclaimed, or no handoff)
	 * or a granted one, whose status the granter set to P_RUNNING.  No
	 * one else moves the status of a P whose word names m.
	 */
	st(&m->p->status, P_SYSCALL);
	m->oldp = m->p;
	(void)pp;
}

/*
 * Step 2: m owns P index p by the word (HANDOFF|m or OWNED|m); make it
 * m's in the runtime's view too.
 */
static void takeover(struct m *m, int p)
{
	struct p *pp = &sched.allp[p];
	struct m *old;
	int s = P_SYSCALL;
	uint32_t w = KHAND(m);

	lock_acquire(&sched.lock);
	old = pp->m;
	m->needp = false;
	if (old && old != m) {
		old->needp = true;
		st(&kmon_wake, 1);
		futex_wake(&kmon_wake, 1);
	}
	lock_release(&sched.lock);
	atomic_compare_exchange_strong(&pp->status, &s, P_RUNNING);
	atomic_compare_exchange_strong(pword(p), &w, KOWN(m));
	m->p = pp;
	pp->m = m;
	atomic_fetch_add(&sched.handoffs, 1);
	/* nobody reads the event ring: keep the module from counting
	 * overflows (the words carry what we need) */
	__atomic_store_n(&khdr->ring_tail,
			 __atomic_load_n(&khdr->ring_head, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

/* Try to take a FREE P (step 2 for a word no standby got).  -1: none. */
static int take_free(struct m *m)
{
	for (int i = 0; i < sched.nprocs; i++) {
		uint32_t f = SACT_P_FREE;

		if (ld(pword(i)) == SACT_P_FREE &&
		    atomic_compare_exchange_strong(pword(i), &f, KOWN(m)))
			return i;
	}
	return -1;
}

static int kmod_park_standby(struct m *m)
{
	int p = take_free(m);

	if (p >= 0) {
		takeover(m, p);
		return 1;
	}
	lock_acquire(&sched.lock);
	if (ld(&sched.exiting)) {
		lock_release(&sched.lock);
		return -1;
	}
	if (sched.nkstandby >= sched.kstandby_target) {
		lock_release(&sched.lock);
		return 0;
	}
	sched.nkstandby++;
	m->in_kstandby = true;
	lock_release(&sched.lock);
	for (;;) {
		struct sact_standby a = { .size = sizeof(a) };
		int r = ioctl(kfd, SACT_IOC_STANDBY, &a);

		if (r < 0 && errno != EINTR)
			throw("sact: kmod: SACT_IOC_STANDBY failed");
		if (r < 0 && !ld(&sched.exiting)) {
			/* the monitor's kick: a P went FREE before we were
			 * in the module's standby list */
			r = take_free(m);
			if (r < 0)
				continue;
		}
		lock_acquire(&sched.lock);
		sched.nkstandby--;
		m->in_kstandby = false;
		lock_release(&sched.lock);
		if (r < 0)
			return -1;
		takeover(m, r);
		return 1;
	}
}

/*
 * Step 4 (sched.lock held): give pp to an M that lost its P, instead of
 * idling it.  The caller is pp's owner (or took it off the idle list).
 */
static bool kmod_p_idle(struct p *pp)
{
	struct m *me = getm_raw();
	_Atomic uint32_t *w = pword(pp->id);

	if (!kshm)
		return false;		/* sact_run's setup, before init */
	for (int i = 0; i < sched.nm && me && me->ks; i++) {
		struct m *n = &sched.allm[i];
		struct sact_grant g = {
			.size = sizeof(g), .worker = (uint32_t)n->id,
			.proc = (uint32_t)pp->id,
		};
		uint32_t old = ld(w);

		if (!n->needp || ld(&sched.exiting))
			continue;
		if (!word_is_mine(old, me) &&
		    !(old == IDLE_W &&
		      atomic_compare_exchange_strong(w, &old, KOWN(me))))
			throw("sact: kmod: idling a P the caller does not hold");
		pp->m = n;
		st(&pp->status, P_RUNNING);
		if (ioctl(kfd, SACT_IOC_GRANT, &g) == 0) {
			n->needp = false;
			return true;
		}
		if (errno != EAGAIN)
			throw("sact: kmod: SACT_IOC_GRANT failed");
		n->needp = false;	/* not waiting after all */
	}
	st(w, IDLE_W);
	return false;
}

static void kmod_p_acquire(struct m *m, struct p *pp)
{
	if (kshm)
		st(pword(pp->id), KOWN(m));
}

/* Step 5: FREE Ps to Ms that wait for one. */
static void *kmon_main(void *arg)
{
	(void)arg;
	while (!ld_acq(&kmon_stop)) {
		bool waiting = false;

		lock_acquire(&sched.lock);
		for (int i = 0; i < sched.nm; i++) {
			struct m *n = &sched.allm[i];

			if (!n->needp)
				continue;
			waiting = true;
			for (int k = 0; k < sched.nprocs; k++) {
				struct p *pp = &sched.allp[k];
				struct sact_grant g = {
					.size = sizeof(g),
					.worker = (uint32_t)n->id,
					.proc = (uint32_t)k,
				};
				struct m *old = pp->m;

				if (ld(pword(k)) != SACT_P_FREE)
					continue;
				if (ioctl(kfd, SACT_IOC_GRANT, &g) < 0)
					break;	/* changed, or n not waiting */
				n->needp = false;
				if (old && old != n)
					old->needp = true;
				pp->m = n;
				st(&pp->status, P_RUNNING);
				break;
			}
		}
		/*
		 * A P the module freed while no M waits for one: a block
		 * that found no standby in the module's list, e.g. one that
		 * was between our pool and its ioctl.  Kick a pool standby;
		 * it takes the P (take_free) instead of parking again.
		 */
		if (!waiting) {
			for (int k = 0; k < sched.nprocs; k++) {
				if (ld(pword(k)) != SACT_P_FREE)
					continue;
				for (int i = 0; i < sched.nm; i++)
					if (sched.allm[i].in_kstandby) {
						pthread_kill(sched.allm[i].thread,
							     ksig);
						break;
					}
				break;
			}
		}
		lock_release(&sched.lock);
		if (waiting) {
			futex_wait(&kmon_stop, 0, KMON_POLL_NS);
		} else {
			/* a takeover sets kmon_wake after it sets needp */
			if (atomic_exchange(&kmon_wake, 0) == 0)
				futex_wait(&kmon_wake, 0, KMON_IDLE_NS);
		}
	}
	return NULL;
}

static void ksig_handler(int sig)
{
	(void)sig;	/* only to interrupt SACT_IOC_STANDBY */
}

static int kmod_init(void)
{
	struct sact_version v = { .size = sizeof(v) };
	struct sact_kconfig c = { .size = sizeof(c) };
	struct sigaction sa;
	int err;

	if (sched.nprocs > SACT_MAX_PROCS || sched.nm > SACT_MAX_WORKERS)
		return -E2BIG;
	kfd = open(SACT_DEVICE, O_RDWR | O_CLOEXEC);
	if (kfd < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	err = -EPROTO;
	if (ioctl(kfd, SACT_IOC_VERSION, &v) < 0 || v.abi != SACT_ABI_VERSION)
		goto out_close;
	c.flags = SACT_CONFIG_STRICT;
	c.nr_procs = (uint32_t)sched.nprocs;
	if (ioctl(kfd, KIOC_CONFIG, &c) < 0) {
		err = -errno;
		goto out_close;
	}
	kshm = mmap(NULL, SACT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    kfd, 0);
	if (kshm == MAP_FAILED) {
		err = -errno;
		kshm = NULL;
		goto out_close;
	}
	khdr = kshm;
	kprocs = (void *)((char *)kshm + SACT_SHM_PROCS_OFFSET);
	kslots = (void *)((char *)kshm + SACT_SHM_WORKERS_OFFSET);
	/* the words say what sact_run set up: P0 with M0, the rest idle */
	for (int i = 0; i < sched.nprocs; i++) {
		struct p *pp = &sched.allp[i];

		st(pword(i), ld(&pp->status) == P_IDLE || !pp->m ? IDLE_W :
			     KOWN(pp->m));
	}
	sched.kstandby_target = sched.nm - sched.nprocs;
	if (sched.kstandby_target > SACT_MAX_STANDBY)
		sched.kstandby_target = SACT_MAX_STANDBY;
	ksig = SIGRTMAX - 3;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ksig_handler;	/* no SA_RESTART: the ioctl returns */
	sigemptyset(&sa.sa_mask);
	sigaction(ksig, &sa, &ksig_old);
	return 0;

out_close:
	close(kfd);
	kfd = -1;
	return err;
}

static void kmod_fini(void)
{
	sigaction(ksig, &ksig_old, NULL);
	munmap(kshm, SACT_SHM_SIZE);
	kshm = NULL;
	close(kfd);
	kfd = -1;
}

static int kmod_m_start(struct m *m)
{
	struct sact_worker_args a = {
		.size = sizeof(a), .worker = (uint32_t)m->id,
	};

	if (ioctl(kfd, SACT_IOC_REGISTER, &a) < 0)
		return -errno;
	m->ks = &kslots[m->id];
	kmod_state_swap(m->ks, SACT_M_IDLE);
	m->kseen = kmod_unblocks(m->ks);
	return 0;
}

static void kmod_m_stop(struct m *m)
{
	struct sact_worker_args a = {
		.size = sizeof(a), .worker = (uint32_t)m->id,
	};

	kmod_state_swap(m->ks, SACT_M_IDLE);
	m->ks = NULL;
	ioctl(kfd, SACT_IOC_UNREGISTER, &a);
}

/* After the Ms exist: wait until the standby pool is parked in the
 * module (so a G that blocks at once finds a standby), start the monitor. */
static int kmod_start(void)
{
	int err;

	for (int i = 0; i < sched.kstandby_target; i++) {
		struct sact_mslot *ks = &kslots[sched.nprocs + i];

		while (kload(&ks->kstate) != SACT_MK_STANDBY)
			usleep(100);
	}
	st(&kmon_stop, 0);
	err = pthread_create(&kmon_thread, NULL, kmon_main, NULL);
	if (err)
		return -err;
	kmon_running = true;
	sched.threads++;
	return 0;
}

/* Before the Ms are joined: the module standbys leave on a signal; one
 * sent just before a standby enters the ioctl is lost, so repeat. */
static void kmod_stop(void)
{
	for (;;) {
		bool any = false;

		lock_acquire(&sched.lock);
		for (int i = 0; i < sched.nm; i++)
			if (sched.allm[i].in_kstandby) {
				any = true;
				pthread_kill(sched.allm[i].thread, ksig);
			}
		lock_release(&sched.lock);
		if (!any)
			break;
		usleep(1000);
	}
	if (kmon_running) {
		kmon_running = false;
		st_rel(&kmon_stop, 1);
		futex_wake(&kmon_stop, 1);
		st(&kmon_wake, 1);
		futex_wake(&kmon_wake, 1);
		pthread_join(kmon_thread, NULL);
	}
}

const struct backend_ops backend_kmod = {
	.id		= SACT_BACKEND_KMOD,
	.init		= kmod_init,
	.fini		= kmod_fini,
	.m_start	= kmod_m_start,
	.m_stop		= kmod_m_stop,
	.start		= kmod_start,
	.stop		= kmod_stop,
	.exit_syscall	= kmod_exit_syscall,
	.p_acquire	= kmod_p_acquire,
	.p_idle		= kmod_p_idle,
	.park_standby	= kmod_park_standby,
};
