// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bpf_backend.c - the bpf backend's user half: load sact_sched.bpf.c, keep
 * the M slots and the P words, and park standby Ms until the program hands
 * them a P.
 *
 * Where a module cannot be loaded, a BPF program on tp_btf/sched_switch can
 * still see the instant a thread blocks.  What it cannot do is wake a thread
 * directly (it runs under the rq lock) or stop one from returning to user
 * space: its only wakeup is a ring buffer commit, which defers the wake_up
 * to irq_work, and it has no strict mode.  So:
 *
 *  - the P word of every P (struct sact_bpf_p.own) is moved only by CAS, by
 *    the program and by user space alike, so both agree on one owner;
 *  - an M that comes back from the kernel re-checks that it still owns its
 *    P (sact_bpf_p_keep) before it runs G code again.
 *
 * The ownership protocol, one P, as numbered steps (w = the P word):
 *
 *  1. Acquire (user, any M):  w: IDLE|HANDOFF -> OWNED(m).  Then the M
 *     publishes m->p = P+1 and, around G code, m->in_g = 1.  These are the
 *     M's own stores, made before it enters the kernel, so the program,
 *     running on that thread's switch-out, sees them (same thread, program
 *     order; no barrier needed beyond a compiler barrier).
 *  2. Block (program, on M's switch-out, !preempt, state != RUNNING, in_g):
 *     if w is OWNED(m): CAS w -> HANDOFF(m), seq+1.  A failed CAS means user
 *     space moved w in between (another M took the P): no handoff.  After a
 *     successful CAS the program commits an event {p, m, seq} to a ring;
 *     the commit wakes the waiter from irq_work once the switch is done.
 *  3. Claim (standby, woken by the ring or the relay's futex):
 *     CAS w: HANDOFF -> OWNED(standby).  Success: the standby runs the P.
 *     Failure: the old owner took it back (step 4) or the event is stale;
 *     the standby waits again.
 *  4. Keep (user, the M returning from the kernel, before G code):
 *     w == OWNED(m): no handoff happened, go on.  w == HANDOFF: CAS ->
 *     OWNED(m), seq+1 ("reclaimed"; the standby's step 3 will fail).  Else
 *     another M owns the P: clear m->p, queue the G, become a standby.
 *  5. Release (user, owner):  CAS OWNED(m) -> IDLE (clear m->p first).
 *
 * Every transition is one CAS on one 64-bit word carrying a sequence number,
 * so steps 3 and 4 racing for a HANDOFF P end with exactly one winner, and
 * step 2 racing with a step 1/5 of another thread either sees the new value
 * or fails its CAS.  selftests/bpf/ownership.c hammers 3 against 4.
 * No strict mode: an M whose P was handed off returns to user space anyway;
 * until it calls step 4 it runs without a P (the runtime's wrappers call
 * it after every syscall; an unwrapped libc call is noticed at the next
 * scheduling point).
 *
 * Wake designs, measured side by side by userspace/bench/bpf_handoff.c
 * (handoff = M enters read() -> standby back in user space owning the P;
 * host 6.18, 2 vCPUs shared with other work, median p50 of 3 runs of 10k):
 *   RING_PER_P:  one ring per P, the P's standby in epoll_wait on it.
 *                irq_work -> wake standby: one wakeup.          15.7 us
 *   RING_FUTEX:  one ring, a relay thread in epoll_wait; it futex-wakes a
 *                parked standby: two wakeups in series, and the relay is one
 *                more thread that must get a CPU first.         19.4 us
 * RING_PER_P is the default: it was faster in every run (p50 ratio
 * 0.75-0.85) because it has one wakeup on the path instead of two; its
 * cost is one standby per P and one ring (a page) per P.  Most of what is
 * left is the ring's irq_work (a self-IPI, as dear as a cross-CPU wake in
 * this VM): a same-CPU futex wake costs 2.7 us here.  Figures: HACKING.md.
 * The stop eventfd shares each waiter's epoll set with the ring, so a
 * stopped runtime never leaves a thread asleep.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_backend.h"
/* The skeleton's static asserts need the .bss types first (sact_sched.h). */
#include "sact_sched.skel.h"

#define RING_BYTES	4096	/* = struct sact_ring in the program */

/*
 * Per-standby futex word (RING_FUTEX): 0 parked/idle, P + 1 handed a P,
 * STOP_WORD stopped (a value, not just a wake: a standby between its last
 * check and FUTEX_WAIT then does not sleep).
 */
#define STOP_WORD	UINT32_MAX
struct standby {
	uint32_t word;
	bool parked;
} __attribute__((aligned(64)));

struct sact_bpf {
	struct sact_sched_bpf *skel;
	struct sact_bpf_shared *sh;	/* skel->bss->shared */
	struct sact_bpf_m *ms;		/* the map m_state: mmax slots reserved,
					 * the first nms mapped (ms_grow) */
	size_t ms_len;			/* the reservation's length */
	int nms;			/* slots mapped; grows under lock, read
					 * by valid_slot without it */
	int mmax;
	int nprocs;
	int wake;
	int stop_fd;			/* eventfd: readable once stopped */
	bool stopping;

	/* RING_PER_P: ring, its consumer and its waiter's epoll, per P. */
	int ring_fd[SACT_BPF_MAX_P];
	struct ring_buffer *ring[SACT_BPF_MAX_P];
	int epfd[SACT_BPF_MAX_P];
	int waiting[SACT_BPF_MAX_P];	/* one waiter per P (CAS 0 -> 1) */
	struct sact_bpf_event last[SACT_BPF_MAX_P]; /* consumer scratch */
	int claim_slot[SACT_BPF_MAX_P];
	int claimed[SACT_BPF_MAX_P];

	/* RING_FUTEX: the ring `events`, its relay, the parked standbys. */
	struct ring_buffer *relay_ring;
	int relay_epfd;
	pthread_mutex_t lock;		/* slots; the standby stack */
	int *idle;			/* stack of parked standby slots; these
					 * three RING_FUTEX only, else NULL */
	int nidle;
	struct standby *sb;		/* [mmax] */
	struct sact_bpf_event *sb_ev;	/* [mmax] */
	int dispatched;			/* relay thread only */
};

static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* libbpf talks on stderr; the runtime must not.  SACT_DEBUG=1 gets one
 * line from sact_run (the reason); SACT_DEBUG=2 libbpf's own words too. */
static int quiet_print(enum libbpf_print_level level, const char *fmt,
		       va_list ap)
{
	const char *d = getenv("SACT_DEBUG");

	if (!d || strcmp(d, "2") || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static long futex(uint32_t *uaddr, int op, uint32_t val,
		  const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

/* Block in epoll_wait on @epfd; 1 when something is ready, or -errno. */
static int wait_ready(int epfd, int timeout_ms)
{
	struct epoll_event ev[2];
	int n = epoll_wait(epfd, ev, 2, timeout_ms);

	if (n < 0)
		return -errno;
	return n ? 1 : -ETIMEDOUT;
}

static int epoll_for(int ring_fd, int stop_fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int epfd = epoll_create1(EPOLL_CLOEXEC);

	if (epfd < 0)
		return -errno;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, ring_fd, &ev) ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, stop_fd, &ev)) {
		int err = -errno;

		close(epfd);
		return err;
	}
	return epfd;
}

static uint64_t own_load(struct sact_bpf *b, int p)
{
	return __atomic_load_n(&b->sh->p[p].own, __ATOMIC_ACQUIRE);
}

static bool own_cas(struct sact_bpf *b, int p, uint64_t *old, uint64_t new)
{
	return __atomic_compare_exchange_n(&b->sh->p[p].own, old, new, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Step 3: HANDOFF -> OWNED(slot).  True if the caller now owns @p. */
static bool claim(struct sact_bpf *b, int p, int slot)
{
	uint64_t w = own_load(b, p);

	while (SACT_BPF_OWN_STATE(w) == SACT_BPF_P_HANDOFF) {
		if (own_cas(b, p, &w, SACT_BPF_OWN(SACT_BPF_OWN_SEQ(w) + 1,
						   SACT_BPF_P_OWNED, slot))) {
			__atomic_store_n(&b->ms[slot].p, p + 1,
					 __ATOMIC_RELEASE);
			return true;
		}
	}
	return false;
}

static bool valid_p(struct sact_bpf *b, int p)
{
	return p >= 0 && p < b->nprocs;
}

/* A slot a caller may touch: only register_tid hands out slots, and only
 * mapped ones. */
static bool valid_slot(struct sact_bpf *b, int slot)
{
	return slot >= 0 && slot < __atomic_load_n(&b->nms, __ATOMIC_ACQUIRE);
}

/*
 * The map m_state is mmax slots (1.25 MiB at the default mmax): mapped
 * whole it would be resident in every program, since a BPF array's pages
 * are mapped at mmap time.  So it is reserved whole (PROT_NONE, so that
 * b->ms stays one array) and mapped from the front as slots are handed
 * out, doubling: a few pages for a program with a few Ms, a handful of
 * mappings for one with thousands.  Pages once mapped stay: a slot's
 * address never changes.
 *
 * Precondition: b->lock held (or the backend not yet shared), @slot < mmax.
 * Returns 0 once @slot is mapped, else -errno.
 */
static int ms_grow(struct sact_bpf *b, int slot)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t have = (size_t)b->nms * sizeof(*b->ms);
	size_t want = ((size_t)slot + 1) * sizeof(*b->ms);
	void *at;

	if (slot < b->nms)
		return 0;
	if (want < 2 * have)
		want = 2 * have;
	want = (want + page - 1) / page * page;
	if (want > b->ms_len)
		want = b->ms_len;
	/* have is page-aligned: every mapping so far ended on a page */
	at = mmap((char *)b->ms + have, want - have, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_FIXED, bpf_map__fd(b->skel->maps.m_state),
		  (off_t)have);
	if (at == MAP_FAILED)
		return -errno;
	/* the last page may hold room for slots past mmax: not slots */
	want /= sizeof(*b->ms);
	__atomic_store_n(&b->nms, want < (size_t)b->mmax ? (int)want : b->mmax,
			 __ATOMIC_RELEASE);
	return 0;
}

/* ------------------------------------------------------------------------
 * Open and close
 * ------------------------------------------------------------------------ */

/* RING_PER_P: consumer callback; claims the P for the waiting standby. */
static int on_p_event(void *ctx, void *data, size_t size)
{
	struct sact_bpf *b = ctx;
	const struct sact_bpf_event *e = data;
	int p = e->p;

	if (size < sizeof(*e) || !valid_p(b, p))
		return 0;
	if (!b->claimed[p] && claim(b, p, b->claim_slot[p])) {
		b->claimed[p] = 1;
		b->last[p] = *e;
	}
	return 0;
}

/* RING_FUTEX: relay callback; hands a live event to a parked standby. */
static int on_relay_event(void *ctx, void *data, size_t size)
{
	struct sact_bpf *b = ctx;
	const struct sact_bpf_event *e = data;
	int s = -1;

	if (size < sizeof(*e) || !valid_p(b, e->p))
		return 0;
	if (SACT_BPF_OWN_STATE(own_load(b, e->p)) != SACT_BPF_P_HANDOFF)
		return 0;	/* taken back already: stale */
	pthread_mutex_lock(&b->lock);
	if (b->nidle) {
		s = b->idle[--b->nidle];
		b->sb[s].parked = false;
		b->sb_ev[s] = *e;
		__atomic_store_n(&b->sb[s].word, e->p + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&b->lock);
	if (s >= 0) {
		futex(&b->sb[s].word, FUTEX_WAKE_PRIVATE, 1, NULL);
		b->dispatched++;
	}
	return 0;
}

/*
 * Put the Ps' ring buffers in p_rings, all in one BPF_MAP_UPDATE_BATCH.
 * Every update of a map of maps waits for an RCU grace period (the
 * kernel's maybe_wait_bpf_programs): one update per P cost ~9 ms each
 * natively at start-up.  Kernels since 6.7 wait once per batch; 6.1
 * still once per element.  A kernel without batch updates for this map
 * type gets one update per P.  0 or -errno.
 */
#define ENOTSUPP	524	/* the kernel's own errno: bpf(2) returns it */

static int install_rings(struct sact_bpf *b)
{
	int outer = bpf_map__fd(b->skel->maps.p_rings);
	uint32_t keys[SACT_BPF_MAX_P], n = (uint32_t)b->nprocs;

	for (uint32_t p = 0; p < n; p++)
		keys[p] = p;
	if (!bpf_map_update_batch(outer, keys, b->ring_fd, &n, NULL))
		return 0;
	if (errno != EINVAL && errno != ENOTSUPP && errno != EOPNOTSUPP)
		return -errno;
	for (uint32_t p = 0; p < (uint32_t)b->nprocs; p++)
		if (bpf_map_update_elem(outer, &p, &b->ring_fd[p], 0))
			return -errno;
	return 0;
}

/* Free the ring buffers, their epoll fds and map fds (open's and close's). */
static void free_rings(struct sact_bpf *b)
{
	int p;

	for (p = 0; p < SACT_BPF_MAX_P; p++) {
		ring_buffer__free(b->ring[p]);
		if (b->epfd[p] >= 0)
			close(b->epfd[p]);
		if (b->ring_fd[p] >= 0)
			close(b->ring_fd[p]);
	}
	ring_buffer__free(b->relay_ring);
	if (b->relay_epfd >= 0)
		close(b->relay_epfd);
}

__attribute__((visibility("hidden")))
int sact_bpf_open(const struct sact_bpf_opts *opts, struct sact_bpf **bp,
		  char *why, size_t whylen)
{
	libbpf_print_fn_t old_print;
	struct sact_bpf *b;
	int err, p;

	*bp = NULL;
	if (!opts || opts->size < sizeof(*opts) || opts->nprocs < 1 ||
	    opts->nprocs > SACT_BPF_MAX_P || opts->lost_sig < 0 ||
	    opts->mmax < 0 || opts->mmax > SACT_BPF_MMAX_LIMIT ||
	    (opts->wake != SACT_BPF_WAKE_RING_PER_P &&
	     opts->wake != SACT_BPF_WAKE_RING_FUTEX)) {
		say(why, whylen, "bpf: bad options (nprocs 1..%d, mmax "
		    "0..%d, wake mode)", SACT_BPF_MAX_P, SACT_BPF_MMAX_LIMIT);
		return -EINVAL;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		say(why, whylen, "bpf: the kernel has no BTF "
		    "(/sys/kernel/btf/vmlinux): tp_btf programs cannot load");
		return -EOPNOTSUPP;
	}

	b = calloc(1, sizeof(*b));
	if (!b) {
		say(why, whylen, "bpf: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&b->lock, NULL);
	b->nprocs = opts->nprocs;
	b->wake = opts->wake;
	b->mmax = opts->mmax ? opts->mmax : SACT_BPF_MMAX_DEFAULT;
	/* RING_FUTEX's parked standbys, a slot each: ~90 bytes per possible
	 * M (900 KiB at the default mmax), so only in that mode */
	if (b->wake == SACT_BPF_WAKE_RING_FUTEX) {
		b->idle = calloc(b->mmax, sizeof(*b->idle));
		b->sb = calloc(b->mmax, sizeof(*b->sb));
		b->sb_ev = calloc(b->mmax, sizeof(*b->sb_ev));
		if (!b->idle || !b->sb || !b->sb_ev) {
			err = -ENOMEM;
			say(why, whylen, "bpf: out of memory");
			goto out_arrays;
		}
	}
	b->relay_epfd = -1;
	for (p = 0; p < SACT_BPF_MAX_P; p++)
		b->ring_fd[p] = b->epfd[p] = -1;
	b->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->stop_fd < 0) {
		err = -errno;
		say(why, whylen, "bpf: eventfd: %s", strerror(-err));
		goto out_arrays;
	}

	old_print = libbpf_set_print(quiet_print);

	b->skel = sact_sched_bpf__open();
	if (!b->skel) {
		err = -errno;
		say(why, whylen, "bpf: cannot open the program: %s",
		    strerror(-err));
		goto out_print;
	}
	b->skel->rodata->sact_tgid = opts->tgid ? opts->tgid : getpid();
	b->skel->rodata->nr_p = opts->nprocs;
	b->skel->rodata->wake_mode = opts->wake;
	b->skel->rodata->lost_sig = opts->lost_sig;
	bpf_map__set_max_entries(b->skel->maps.m_slots, b->mmax);
	bpf_map__set_max_entries(b->skel->maps.m_state, b->mmax);
	/* sys_exit costs every syscall of the machine its slow path while
	 * attached: only when someone handles the signal */
	bpf_program__set_autoattach(b->skel->progs.sact_sys_exit,
				    opts->lost_sig != 0);

	err = sact_sched_bpf__load(b->skel);
	if (err) {
		/* The verifier says EACCES too: only EPERM, or EACCES
		 * without root, is a matter of privilege. */
		if (err == -EPERM || (err == -EACCES && geteuid())) {
			err = -EPERM;
			say(why, whylen, "bpf: loading the sched_switch program "
			    "needs root (CAP_BPF + CAP_PERFMON)");
		} else {
			say(why, whylen, "bpf: cannot load the program: %s",
			    strerror(-err));
		}
		goto out_destroy;
	}
	b->sh = &b->skel->bss->shared;
	/* the map's length rounded up to pages, as the kernel maps it */
	b->ms_len = sizeof(*b->ms) * (size_t)b->mmax;
	b->ms_len = (b->ms_len + sysconf(_SC_PAGESIZE) - 1) /
		    sysconf(_SC_PAGESIZE) * sysconf(_SC_PAGESIZE);
	b->ms = mmap(NULL, b->ms_len, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->ms == MAP_FAILED) {
		err = -errno;
		b->ms = NULL;
		say(why, whylen, "bpf: cannot reserve the M slots: %s",
		    strerror(-err));
		goto out_destroy;
	}
	/* the first page now: a mapping that fails fails here, not at
	 * the first M's registration */
	err = ms_grow(b, 0);
	if (err) {
		say(why, whylen, "bpf: cannot map the M slots: %s",
		    strerror(-err));
		goto out_unmap;
	}

	/* All Ps IDLE before anything can look at them. */
	for (p = 0; p < SACT_BPF_MAX_P; p++)
		b->sh->p[p].own = SACT_BPF_OWN(0, SACT_BPF_P_IDLE, 0);

	if (b->wake == SACT_BPF_WAKE_RING_PER_P) {
		for (p = 0; p < b->nprocs; p++) {
			b->ring_fd[p] = bpf_map_create(BPF_MAP_TYPE_RINGBUF,
						       "sact_p_ring", 0, 0,
						       RING_BYTES, NULL);
			if (b->ring_fd[p] < 0) {
				err = -errno;
				say(why, whylen, "bpf: cannot create a ring "
				    "buffer: %s", strerror(-err));
				goto out_rings;
			}
		}
		err = install_rings(b);
		if (err) {
			say(why, whylen, "bpf: cannot install the ring "
			    "buffers: %s", strerror(-err));
			goto out_rings;
		}
		for (p = 0; p < b->nprocs; p++) {
			b->ring[p] = ring_buffer__new(b->ring_fd[p], on_p_event,
						      b, NULL);
			if (!b->ring[p]) {
				err = -errno;
				say(why, whylen, "bpf: ring_buffer__new: %s",
				    strerror(-err));
				goto out_rings;
			}
			b->epfd[p] = epoll_for(b->ring_fd[p], b->stop_fd);
			if (b->epfd[p] < 0) {
				err = b->epfd[p];
				say(why, whylen, "bpf: epoll: %s",
				    strerror(-err));
				goto out_rings;
			}
		}
	} else {
		int fd = bpf_map__fd(b->skel->maps.events);

		b->relay_ring = ring_buffer__new(fd, on_relay_event, b, NULL);
		if (!b->relay_ring) {
			err = -errno;
			say(why, whylen, "bpf: ring_buffer__new: %s",
			    strerror(-err));
			goto out_rings;
		}
		b->relay_epfd = epoll_for(fd, b->stop_fd);
		if (b->relay_epfd < 0) {
			err = b->relay_epfd;
			say(why, whylen, "bpf: epoll: %s", strerror(-err));
			goto out_rings;
		}
	}

	err = sact_sched_bpf__attach(b->skel);
	if (err) {
		say(why, whylen, "bpf: cannot attach to sched_switch: %s",
		    strerror(-err));
		goto out_rings;
	}
	libbpf_set_print(old_print);
	*bp = b;
	return 0;

out_rings:
	free_rings(b);
out_unmap:
	munmap(b->ms, b->ms_len);
out_destroy:
	sact_sched_bpf__destroy(b->skel);
out_print:
	libbpf_set_print(old_print);
	close(b->stop_fd);
out_arrays:
	free(b->idle);
	free(b->sb);
	free(b->sb_ev);
	pthread_mutex_destroy(&b->lock);
	free(b);
	return err;
}

__attribute__((visibility("hidden")))
void sact_bpf_stop(struct sact_bpf *b)
{
	uint64_t one = 1;
	int s;

	__atomic_store_n(&b->stopping, true, __ATOMIC_SEQ_CST);
	if (write(b->stop_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: the counter is already non-zero. */
	}
	pthread_mutex_lock(&b->lock);
	for (s = 0; b->sb && s < b->mmax; s++) {
		if (!b->sb[s].parked)
			continue;
		b->sb[s].parked = false;
		__atomic_store_n(&b->sb[s].word, STOP_WORD, __ATOMIC_RELEASE);
		futex(&b->sb[s].word, FUTEX_WAKE_PRIVATE, 1, NULL);
	}
	b->nidle = 0;
	pthread_mutex_unlock(&b->lock);
}

__attribute__((visibility("hidden")))
void sact_bpf_close(struct sact_bpf *b)
{
	if (!b)
		return;
	/* Detach first: no event after this point. */
	sact_sched_bpf__detach(b->skel);
	free_rings(b);
	munmap(b->ms, b->ms_len);
	sact_sched_bpf__destroy(b->skel);
	close(b->stop_fd);
	free(b->idle);
	free(b->sb);
	free(b->sb_ev);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* ------------------------------------------------------------------------
 * M slots
 * ------------------------------------------------------------------------ */

__attribute__((visibility("hidden")))
int sact_bpf_register_tid(struct sact_bpf *b, pid_t tid)
{
	int fd = bpf_map__fd(b->skel->maps.m_slots);
	__u32 key = tid, val;
	int slot, err = -ENOSPC;

	if (tid <= 0)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	if (!bpf_map_lookup_elem(fd, &key, &val)) {
		err = -EEXIST;
		goto out_unlock;
	}
	for (slot = 0; slot < b->mmax; slot++) {
		struct sact_bpf_m *m = &b->ms[slot];

		if (slot >= b->nms) {
			err = ms_grow(b, slot);
			if (err)
				goto out_unlock;
		}
		if (m->tid)
			continue;
		/* Free slot: the program cannot reach it, reset it freely. */
		memset(m, 0, sizeof(*m));
		m->tid = tid;
		val = slot;
		if (bpf_map_update_elem(fd, &key, &val, BPF_NOEXIST)) {
			err = -errno;
			m->tid = 0;
			goto out_unlock;
		}
		err = slot;
		break;
	}
out_unlock:
	pthread_mutex_unlock(&b->lock);
	return err;
}

__attribute__((visibility("hidden")))
int sact_bpf_register(struct sact_bpf *b)
{
	return sact_bpf_register_tid(b, gettid());
}

__attribute__((visibility("hidden")))
int sact_bpf_unregister(struct sact_bpf *b, int slot)
{
	int fd = bpf_map__fd(b->skel->maps.m_slots);
	__u32 key;
	int err = 0;

	if (!valid_slot(b, slot))
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	key = b->ms[slot].tid;
	if (!key) {
		err = -EINVAL;
		goto out_unlock;
	}
	/* After the delete no new run of the program finds the slot. */
	bpf_map_delete_elem(fd, &key);
	__atomic_store_n(&b->ms[slot].in_g, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&b->ms[slot].p, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&b->ms[slot].tid, 0, __ATOMIC_RELEASE);
out_unlock:
	pthread_mutex_unlock(&b->lock);
	return err;
}

__attribute__((visibility("hidden")))
struct sact_bpf_shared *sact_bpf_shared(struct sact_bpf *b)
{
	return b->sh;
}

__attribute__((visibility("hidden")))
struct sact_bpf_m *sact_bpf_mslot(struct sact_bpf *b, int slot)
{
	return valid_slot(b, slot) ? &b->ms[slot] : NULL;
}

/* ------------------------------------------------------------------------
 * P ownership (steps 1, 4, 5)
 * ------------------------------------------------------------------------ */

__attribute__((visibility("hidden")))
int sact_bpf_p_acquire(struct sact_bpf *b, int p, int slot)
{
	uint64_t w;

	if (!valid_p(b, p) || !valid_slot(b, slot))
		return -EINVAL;
	w = own_load(b, p);
	for (;;) {
		if (SACT_BPF_OWN_STATE(w) == SACT_BPF_P_OWNED)
			return -EBUSY;
		if (own_cas(b, p, &w, SACT_BPF_OWN(SACT_BPF_OWN_SEQ(w) + 1,
						   SACT_BPF_P_OWNED, slot)))
			break;
	}
	__atomic_store_n(&b->ms[slot].p, p + 1, __ATOMIC_RELEASE);
	return SACT_BPF_OWN_STATE(w) == SACT_BPF_P_HANDOFF;
}

__attribute__((visibility("hidden")))
int sact_bpf_p_claim(struct sact_bpf *b, int p, int slot)
{
	if (!valid_p(b, p) || !valid_slot(b, slot))
		return -EINVAL;
	return claim(b, p, slot) ? 0 : -EBUSY;
}

__attribute__((visibility("hidden")))
int sact_bpf_p_keep(struct sact_bpf *b, int p, int slot)
{
	uint64_t w;

	if (!valid_p(b, p) || !valid_slot(b, slot))
		return -EINVAL;
	w = own_load(b, p);
	for (;;) {
		if (SACT_BPF_OWN_STATE(w) == SACT_BPF_P_OWNED &&
		    SACT_BPF_OWN_OWNER(w) == (uint32_t)slot)
			return 0;
		if (SACT_BPF_OWN_STATE(w) != SACT_BPF_P_HANDOFF)
			break;
		if (own_cas(b, p, &w, SACT_BPF_OWN(SACT_BPF_OWN_SEQ(w) + 1,
						   SACT_BPF_P_OWNED, slot)))
			return 1;
	}
	__atomic_store_n(&b->ms[slot].p, 0, __ATOMIC_RELEASE);
	return -EAGAIN;
}

__attribute__((visibility("hidden")))
int sact_bpf_p_release(struct sact_bpf *b, int p, int slot)
{
	uint64_t w;

	if (!valid_p(b, p) || !valid_slot(b, slot))
		return -EINVAL;
	w = own_load(b, p);
	if (SACT_BPF_OWN_STATE(w) != SACT_BPF_P_OWNED ||
	    SACT_BPF_OWN_OWNER(w) != (uint32_t)slot)
		return -EPERM;
	__atomic_store_n(&b->ms[slot].p, 0, __ATOMIC_RELEASE);
	/* Only the owner moves an OWNED word away from it besides the
	 * program, which only does so on this thread's own block. */
	if (!own_cas(b, p, &w, SACT_BPF_OWN(SACT_BPF_OWN_SEQ(w) + 1,
					    SACT_BPF_P_IDLE, 0)))
		return -EPERM;
	return 0;
}

/* ------------------------------------------------------------------------
 * Standby side (step 3)
 * ------------------------------------------------------------------------ */

static int wait_ring_per_p(struct sact_bpf *b, int slot, int p, int timeout_ms,
			   struct sact_bpf_event *ev)
{
	int zero = 0, ret;

	if (!valid_p(b, p))
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&b->waiting[p], &zero, 1, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return -EBUSY;
	b->claim_slot[p] = slot;
	b->claimed[p] = 0;
	for (;;) {
		/*
		 * Drain first: a handoff that happened before we slept left
		 * its event in the ring (and a P whose event was lost is
		 * still HANDOFF: claim it directly).
		 */
		ret = ring_buffer__consume(b->ring[p]);
		if (ret < 0)
			break;
		if (b->claimed[p]) {
			if (ev)
				*ev = b->last[p];
			ret = p;
			break;
		}
		if (claim(b, p, slot)) {
			if (ev)
				memset(ev, 0, sizeof(*ev));
			ret = p;
			break;
		}
		if (__atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE)) {
			ret = -ECANCELED;
			break;
		}
		ret = wait_ready(b->epfd[p], timeout_ms);
		if (ret < 0)
			break;
	}
	__atomic_store_n(&b->waiting[p], 0, __ATOMIC_RELEASE);
	return ret;
}

static int wait_futex(struct sact_bpf *b, int slot, int timeout_ms,
		      struct sact_bpf_event *ev)
{
	struct standby *sb = &b->sb[slot];
	struct timespec ts, *tsp = NULL;
	uint32_t w;
	int ret;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	for (;;) {
		pthread_mutex_lock(&b->lock);
		if (__atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE)) {
			pthread_mutex_unlock(&b->lock);
			return -ECANCELED;
		}
		__atomic_store_n(&sb->word, 0, __ATOMIC_RELAXED);
		sb->parked = true;
		b->idle[b->nidle++] = slot;
		pthread_mutex_unlock(&b->lock);

		ret = 0;
		while (!(w = __atomic_load_n(&sb->word, __ATOMIC_ACQUIRE))) {
			if (__atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE))
				break;
			/* A relative timeout restarted per wakeup: good
			 * enough for a standby's idle limit. */
			if (futex(&sb->word, FUTEX_WAIT_PRIVATE, 0, tsp) &&
			    errno != EAGAIN && errno != EINTR) {
				ret = -errno;
				break;
			}
		}

		pthread_mutex_lock(&b->lock);
		w = __atomic_load_n(&sb->word, __ATOMIC_ACQUIRE);
		if (!w && sb->parked) {	/* nobody picked us: unpark */
			int i;

			for (i = 0; i < b->nidle; i++)
				if (b->idle[i] == slot) {
					b->idle[i] = b->idle[--b->nidle];
					break;
				}
			sb->parked = false;
		}
		pthread_mutex_unlock(&b->lock);

		if (w == STOP_WORD)
			return -ECANCELED;
		if (w) {
			int p = w - 1;

			if (claim(b, p, slot)) {
				if (ev)
					*ev = b->sb_ev[slot];
				return p;
			}
			continue;	/* taken back meanwhile: park again */
		}
		if (ret)
			return ret == -ETIMEDOUT ? -ETIMEDOUT : ret;
		return -ECANCELED;
	}
}

__attribute__((visibility("hidden")))
int sact_bpf_wait(struct sact_bpf *b, int slot, int p, int timeout_ms,
		  struct sact_bpf_event *ev)
{
	if (!valid_slot(b, slot) || !b->ms[slot].tid)
		return -EINVAL;
	if (b->wake == SACT_BPF_WAKE_RING_PER_P)
		return wait_ring_per_p(b, slot, p, timeout_ms, ev);
	return wait_futex(b, slot, timeout_ms, ev);
}

__attribute__((visibility("hidden")))
int sact_bpf_relay(struct sact_bpf *b, int timeout_ms)
{
	int ret;

	if (b->wake != SACT_BPF_WAKE_RING_FUTEX)
		return -EINVAL;
	if (__atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE))
		return -ECANCELED;
	b->dispatched = 0;
	ret = ring_buffer__consume(b->relay_ring);
	if (ret < 0)
		return ret;
	if (ret)
		return b->dispatched;
	ret = wait_ready(b->relay_epfd, timeout_ms);
	if (ret < 0)
		return ret == -ETIMEDOUT ? 0 : ret;
	if (__atomic_load_n(&b->stopping, __ATOMIC_ACQUIRE))
		return -ECANCELED;
	ret = ring_buffer__consume(b->relay_ring);
	return ret < 0 ? ret : b->dispatched;
}

__attribute__((visibility("hidden")))
__u32 sact_bpf_prog_id(struct sact_bpf *b)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_program__fd(b->skel->progs.sact_switch);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}
