// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * stack.c - G stacks: carved from large mmapped slabs, guarded within a
 * budget of memory mappings, reused through per-P and global free lists.
 *
 * A G and its stack are one slot: a guard region of STACK_GUARD (64 KiB)
 * and sched.stack_size - one page above it (64 KiB - 4 KiB by default);
 * the struct g sits at the top, the stack grows down from just below it:
 *
 *	slot:  | guard (64 KiB) | stack_lo ... stack ... stack_hi | struct g |
 *
 * The guard is as large as the largest frame a G may put past its stack
 * and still be caught at the faulting instruction: it is PROT_NONE (or, out
 * of budget, never touched: MAP_NORESERVE), so it costs address space, not
 * memory.  A fault in a G's guard is reported by stack_fault (the SIGSEGV
 * handler, on each M's alternate signal stack) as "sact: G stack overflow"
 * with the stack size; a larger frame may jump past the guard into the
 * slot below, which -fstack-clash-protection (a probe every page) closes.
 *
 * Rejected designs:
 *
 * 1. One mmap per stack with a PROT_NONE guard page: two memory mappings
 *    (VMAs) per G.  Linux allows vm.max_map_count = 65530 per process by
 *    default, so that stops near 32,000 Gs; the goal is 100,000 parked.
 * 2. Guard pages for every slot of a slab: mprotect splits the slab's VMA
 *    at every guard, so it costs the same two VMAs per G.
 * 3. Growable (segmented or copied) stacks like Go's: C code holds
 *    pointers into its stack, so a stack cannot move.
 *
 * Chosen: slabs of up to 64 slots (8 MiB at the default size), one VMA
 * each, mapped MAP_NORESERVE so untouched stack costs no memory.  The
 * first slab has 4 slots and each next one twice as many up to that, so
 * that a program of a few Gs reserves little address space (VSZ, which
 * users read in ps) and one of 100,000 maps 4 slabs more.  Where the
 * kernel has guard regions (MADV_GUARD_INSTALL, Linux 6.13: markers in
 * the page tables, no VMA split) every slot's guard is one, whatever the
 * number of Gs.  Elsewhere the first
 * stacks get a real guard page (mprotect PROT_NONE) while a budget of VMAs
 * lasts: a quarter of vm.max_map_count, i.e. ~8,000 guarded stacks by
 * default, leaving the rest of the limit to the application.  Stacks beyond
 * the budget (or when mprotect fails) have no guard: their guard region is
 * a dead zone and a canary word at stack_lo is checked every time the G is
 * switched out or exits (switch_to in proc.c): an overflow is caught late
 * rather than at the faulting instruction (or not at all, by a frame that
 * skips the canary without writing it).  The canary costs one touched page
 * per unguarded G (counted in the RSS per parked G).
 *
 * A dead G keeps its stack (Go's gfput/gfget): spawning reuses it with no
 * system call, and the pages it touched stay resident (a warm spawn/exit
 * loop takes no page fault).  Each P caches up to GFREE_MAX dead Gs, LIFO;
 * beyond that they go to a global list (gfree), also LIFO, also warm.
 * After a burst (200,000 Gs alive at once are 800 MiB of touched pages)
 * that list would hold the memory for ever, so an M that finds nothing to
 * run cools it before it parks (stack_cool, off the spawn path): all but
 * sched.gwarm_keep of them (sact_config.stack_cache) give their slots back
 * to the kernel with MADV_DONTNEED, struct g included, and move to gcold,
 * an array of their addresses (mmap, not malloc: see struct slab).  A G
 * taken from gcold is set up again like a fresh slot; its guard stays.
 * Slabs are unmapped when sact_run returns.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#include "internal.h"

#define PAGE		4096UL
#define SLAB_BYTES	(8UL << 20)
#define SLAB_MAX_SLOTS	64
#define SLAB_FIRST_SLOTS 4	/* a program of few Gs maps little */
#define ALTSTACK_BYTES	(64UL << 10)	/* an M's signal stack */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102	/* <linux/mman.h> of Linux 6.13 */
#endif

/* MADV_GUARD_INSTALL here: -1 not tried yet, 0 no (EINVAL), 1 yes. */
static int madv_guard = -1;

/* A slot: the guard region, then the stack and the struct g. */
static size_t slot_size(void)
{
	return STACK_GUARD + sched.stack_size - PAGE;
}

/*
 * Slab headers are carved from pages of their own, ~100 to a page (a page
 * per slab would add 1/64 of a page to every G), not from malloc's
 * memory: slabs are made in runtime code on an M holding a P, and an M
 * waiting for a P in bpf's lost_handler may hold glibc's malloc lock (it
 * was interrupted inside malloc).  The slab list runs newest first, so
 * the headers of one page are next to each other on it (gfree_all).
 */
struct slab {
	struct slab *next;
	char *base;
	size_t len;		/* the mapping of the slots */
	int nslots, used;
};

#define HDR_PAGE(s)	((void *)((uintptr_t)(s) & ~(PAGE - 1)))

/* A zeroed slab header (gflock held); NULL when out of memory. */
static struct slab *slab_header(void)
{
	if (!sched.slab_hdrs ||
	    sched.slab_hdrs_used == PAGE / sizeof(struct slab)) {
		void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return NULL;
		sched.slab_hdrs = p;
		sched.slab_hdrs_used = 0;
	}
	return (struct slab *)sched.slab_hdrs + sched.slab_hdrs_used++;
}

/* At sact_run (stdio mallocs: not on the hot path, see struct slab). */
long stack_guard_budget(void)
{
	long max = 65530;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 65530;
		fclose(f);
	}
	return max / 4 / 2;	/* a guard costs up to two VMAs */
}

/* Bytes a slot gives struct g, at its top. */
#define G_BYTES	((sizeof(struct g) + 63) & ~63UL)

/* The G of the slot at slot, and the slot of gp. */
static struct g *slot_gp(char *slot)
{
	return (struct g *)(slot + slot_size() - G_BYTES);
}

static char *g_slot(struct g *gp)
{
	return (char *)gp + G_BYTES - slot_size();
}

/* The fields of a G in the slot at slot, zeroed; guard not touched. */
static struct g *slot_g_reset(char *slot)
{
	struct g *gp = slot_gp(slot);

	memset(gp, 0, sizeof(*gp));
	gp->timer_idx = -1;
	gp->stack_lo = slot + STACK_GUARD;
	gp->stack_hi = (char *)((uintptr_t)gp & ~15UL);
#if defined(__SANITIZE_THREAD__)
	gp->tsan_fiber = __tsan_create_fiber(0);
#endif
	return gp;
}

/* Set up slot i of s as a fresh G (gflock held). */
static struct g *slot_init(struct slab *s, int i)
{
	char *slot = s->base + (size_t)i * slot_size();
	struct g *gp = slot_g_reset(slot);

	if (madv_guard != 0) {
		/* a fresh slot: nothing resident in the guard to zap */
		int ok = madvise(slot, STACK_GUARD, MADV_GUARD_INSTALL) == 0;

		if (madv_guard < 0)
			madv_guard = ok;
		if (ok) {
			gp->guarded = true;
			goto out;
		}
	}
	if (sched.guards_left > 0 &&
	    mprotect(slot, STACK_GUARD, PROT_NONE) == 0) {
		sched.guards_left--;
		gp->guarded = true;
	} else {
		sched.guards_left = 0;	/* out of budget or of VMAs */
		*(uint64_t *)gp->stack_lo = STACK_CANARY;
	}
out:
	return gp;
}

/* A G from gcold, set up again (gflock held, gcold not empty). */
static struct g *cold_get(void)
{
	uintptr_t e = sched.gcold[--sched.ncold];
	struct g *cold = (struct g *)(e & ~1UL);
	struct g *gp = slot_g_reset(g_slot(cold));

	gp->guarded = e & 1;
	if (!gp->guarded)
		*(uint64_t *)gp->stack_lo = STACK_CANARY;
	return gp;
}

/* Room for n more in gcold (gflock held): false if it cannot grow. */
static bool cold_room(size_t n)
{
	size_t cap = sched.capcold ? sched.capcold : 4096 / sizeof(uintptr_t);
	void *a;

	if (sched.ncold + n <= sched.capcold)
		return true;
	while (cap < sched.ncold + n)
		cap *= 2;
	a = sched.gcold ?
		mremap(sched.gcold, sched.capcold * sizeof(uintptr_t),
		       cap * sizeof(uintptr_t), MREMAP_MAYMOVE) :
		mmap(NULL, cap * sizeof(uintptr_t), PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return false;
	sched.gcold = a;
	sched.capcold = cap;
	return true;
}

#define COOL_BATCH	64

/*
 * Give the slots of the warm dead Gs beyond sched.gwarm_keep back to the
 * kernel, COOL_BATCH at a time, the lock dropped around the madvise
 * calls; stop early when Gs wait in the global queue (this M may be
 * wanted).  Must run on an M without a P, no lock held.
 */
void stack_cool(void)
{
	struct g *batch[COOL_BATCH];
	int n;

	if (sched.gwarm_keep < 0 || ld(&sched.ngfree) <= sched.gwarm_keep ||
	    ld(&sched.ngs) == 0 || ld(&sched.exiting))
		return;		/* (the run is ending: the slabs go anyway) */
	lock_acquire(&sched.gflock);
	if (sched.cooling) {		/* one M cools at a time */
		lock_release(&sched.gflock);
		return;
	}
	sched.cooling = true;
	do {
		/* room first: a zapped G can only go to gcold */
		n = 0;
		if (cold_room(COOL_BATCH))
			for (; n < COOL_BATCH && sched.gfree &&
			       sched.ngfree > sched.gwarm_keep; n++) {
				batch[n] = sched.gfree;
				sched.gfree = batch[n]->schedlink;
				sched.ngfree--;
			}
		lock_release(&sched.gflock);
		for (int i = 0; i < n; i++) {
			struct g *gp = batch[i];
			char *end = (char *)gp + G_BYTES;

#if defined(__SANITIZE_THREAD__)
			__tsan_destroy_fiber(gp->tsan_fiber);
#endif
			batch[i] = (struct g *)((uintptr_t)gp | gp->guarded);
			/* the slot's stack and its struct g; not the guard */
			madvise(gp->stack_lo, end - gp->stack_lo,
				MADV_DONTNEED);
		}
		lock_acquire(&sched.gflock);
		memcpy(sched.gcold + sched.ncold, batch, n * sizeof(*batch));
		sched.ncold += n;
		atomic_fetch_add(&sched.stacks_cooled, n);
	} while (n == COOL_BATCH && ld(&sched.runqsize) == 0 &&
		 ld(&sched.ngs) != 0);
	sched.cooling = false;
	lock_release(&sched.gflock);
}

/* A new G from a slab (gflock held); NULL when out of memory. */
static struct g *slab_alloc(void)
{
	struct slab *s = sched.slabs;

	if (!s || s->used == s->nslots) {
		/* SLAB_FIRST_SLOTS, then twice the last, up to the largest */
		size_t n = s ? 2 * (size_t)s->nslots : SLAB_FIRST_SLOTS;
		size_t most = SLAB_BYTES / slot_size();
		struct slab *h = slab_header();
		void *base;

		if (!h)
			return NULL;
		if (most > SLAB_MAX_SLOTS)
			most = SLAB_MAX_SLOTS;
		if (n > most)
			n = most;
		if (n < 1)
			n = 1;
		base = mmap(NULL, n * slot_size(), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (base == MAP_FAILED) {
			sched.slab_hdrs_used--;	/* h was the last one */
			return NULL;
		}
		s = h;
		s->base = base;
		s->len = n * slot_size();
		s->nslots = n;
		s->used = 0;
		s->next = sched.slabs;
		sched.slabs = s;
	}
	return slot_init(s, s->used++);
}

/*
 * A G with a stack, from pp's cache (pp may be NULL), the global list or a
 * slab.  NULL: out of memory.  Must run on the owner of pp.
 */
struct g *gfget(struct p *pp)
{
	struct g *gp;

	if (pp && pp->gfree) {
		gp = pp->gfree;
		pp->gfree = gp->schedlink;
		pp->ngfree--;
		return gp;
	}
	lock_acquire(&sched.gflock);
	if (sched.gfree) {
		gp = sched.gfree;
		sched.gfree = gp->schedlink;
		sched.ngfree--;
		/* refill the P's cache with a batch */
		while (pp && sched.gfree && pp->ngfree < GFREE_MAX / 2) {
			struct g *g2 = sched.gfree;

			sched.gfree = g2->schedlink;
			sched.ngfree--;
			g2->schedlink = pp->gfree;
			pp->gfree = g2;
			pp->ngfree++;
		}
	} else if (sched.ncold) {
		gp = cold_get();
	} else {
		/* kmod: mmap/mprotect may sleep: not a block of G code */
		struct m *m = getm_raw();
		uint32_t ks = m_kblock_begin(m);

		gp = slab_alloc();
		m_kblock_end(m, ks);
	}
	lock_release(&sched.gflock);
	return gp;
}

/* Free a dead G (off its stack).  Must run on the owner of pp (or NULL). */
void gfput(struct p *pp, struct g *gp)
{
	st(&gp->status, G_IDLE);
	gp->fn = NULL;
	gp->arg = NULL;
#if defined(__SANITIZE_ADDRESS__)
	/* frames that never returned left poisoned redzones behind */
	__asan_unpoison_memory_region(gp->stack_lo,
				      gp->stack_hi - gp->stack_lo);
	gp->asan_fake = NULL;
#endif
	if (!pp) {
		lock_acquire(&sched.gflock);
		gp->schedlink = sched.gfree;
		sched.gfree = gp;
		sched.ngfree++;
		lock_release(&sched.gflock);
		return;
	}
	gp->schedlink = pp->gfree;
	pp->gfree = gp;
	if (++pp->ngfree < GFREE_MAX)
		return;
	lock_acquire(&sched.gflock);
	while (pp->ngfree > GFREE_MAX / 2) {
		struct g *g2 = pp->gfree;

		pp->gfree = g2->schedlink;
		pp->ngfree--;
		g2->schedlink = sched.gfree;
		sched.gfree = g2;
		sched.ngfree++;
	}
	lock_release(&sched.gflock);
}

/* Unmap every slab (every M has exited). */
void gfree_all(void)
{
	struct slab *s = sched.slabs;

	while (s) {
		struct slab *next = s->next;

#if defined(__SANITIZE_THREAD__)
		for (int i = 0; i < s->used; i++) {
			struct g *gp = slot_gp(s->base + i * slot_size());

			if (gp->tsan_fiber)	/* cold: none */
				__tsan_destroy_fiber(gp->tsan_fiber);
		}
#endif
		munmap(s->base, s->len);
		if (!next || HDR_PAGE(next) != HDR_PAGE(s))
			munmap(HDR_PAGE(s), PAGE);	/* its last header */
		s = next;
	}
	sched.slabs = NULL;
	sched.slab_hdrs = NULL;
	sched.slab_hdrs_used = 0;
	sched.gfree = NULL;
	sched.ngfree = 0;
	if (sched.gcold)
		munmap(sched.gcold, sched.capcold * sizeof(uintptr_t));
	sched.gcold = NULL;
	sched.ncold = sched.capcold = 0;
	if (sched.allp)
		for (int i = 0; i < sched.nprocs; i++) {
			sched.allp[i].gfree = NULL;
			sched.allp[i].ngfree = 0;
		}
}

/* ---- overflow: the SIGSEGV handler ----------------------------------------- */

static struct sigaction segv_old;
static bool segv_installed;

/* Write a decimal number; async-signal-safe. */
static void say_num(size_t v)
{
	char buf[24];
	int i = sizeof(buf);

	do
		buf[--i] = '0' + v % 10;
	while ((v /= 10) && i > 0);
	if (write(2, buf + i, sizeof(buf) - i) < 0)
		return;
}

static void say(const char *s)
{
	if (write(2, s, strlen(s)) < 0)
		return;
}

/*
 * SIGSEGV, on the M's alternate stack: a fault in the running G's guard
 * region is a stack overflow - say so and abort.  Anything else goes to
 * the handler there was before (or the default action, by returning to the
 * fault with it restored).
 */
static void stack_fault(int sig, siginfo_t *si, void *uc)
{
	struct m *m = getm_raw();
	struct g *gp = m ? m->curg : NULL;
	char *a = si->si_addr;

	if (gp && gp != &m->g0 && a < gp->stack_lo &&
	    a >= gp->stack_lo - STACK_GUARD) {
		say("sact: G stack overflow: a frame ran past the bottom of "
		    "a ");
		say_num(sched.stack_size >> 10);
		say(" KiB G stack (raise sact_config.stack_size)\n");
		abort();
	}
	if (segv_old.sa_flags & SA_SIGINFO && segv_old.sa_sigaction) {
		segv_old.sa_sigaction(sig, si, uc);
		return;
	}
	if (segv_old.sa_handler != SIG_DFL && segv_old.sa_handler != SIG_IGN) {
		segv_old.sa_handler(sig);
		return;
	}
	signal(SIGSEGV, SIG_DFL);	/* the fault repeats, and kills */
}

/* At sact_run: catch G stack overflows (keeps any handler as a fallback). */
void stack_fault_install(void)
{
	struct sigaction sa;

	if (segv_installed)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = stack_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &segv_old) == 0)
		segv_installed = true;
}

/* When sact_run returns: the handler there was before. */
void stack_fault_uninstall(void)
{
	if (segv_installed)
		sigaction(SIGSEGV, &segv_old, NULL);
	segv_installed = false;
}

/* On m's thread, at its start: its alternate signal stack.  0 or -errno. */
int m_altstack_init(struct m *m)
{
	stack_t ss = { .ss_size = ALTSTACK_BYTES };

	ss.ss_sp = mmap(NULL, ALTSTACK_BYTES, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ss.ss_sp == MAP_FAILED)
		return -errno;
	if (sigaltstack(&ss, NULL) < 0) {
		munmap(ss.ss_sp, ALTSTACK_BYTES);
		return -errno;
	}
	m->altstack = ss.ss_sp;
	return 0;
}

/* On m's thread, before it exits. */
void m_altstack_fini(struct m *m)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (!m->altstack)
		return;
	sigaltstack(&ss, NULL);
	munmap(m->altstack, ALTSTACK_BYTES);
	m->altstack = NULL;
}
