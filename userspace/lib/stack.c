// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * stack.c - G stacks: carved from large mmapped slabs, guarded within a
 * budget of memory mappings, reused through per-P and global free lists.
 *
 * A G and its stack are one slot of sched.stack_size bytes (64 KiB by
 * default): the lowest page is the guard (or a dead zone), the struct g
 * sits at the top, the stack grows down from just below it:
 *
 *	slot:  | guard page | stack_lo ... stack ... stack_hi | struct g |
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
 * Chosen: slabs of up to 64 slots (4 MiB at the default size), one VMA
 * each, mapped MAP_NORESERVE so untouched stack costs no memory.  The first
 * stacks get a real guard page (mprotect PROT_NONE) while a budget of VMAs
 * lasts: a quarter of vm.max_map_count, i.e. ~8,000 guarded stacks by
 * default, leaving the rest of the limit to the application.  Stacks beyond
 * the budget (or when mprotect fails) have no guard: their lowest page is a
 * dead zone and a canary word at stack_lo is checked every time the G is
 * switched out or exits (switch_to in proc.c): an overflow is caught late rather
 * than at the faulting instruction, and an overflow larger than the dead
 * zone can corrupt the slot below before it is caught.  The canary costs one
 * touched page per unguarded G (counted in the RSS per parked G).
 *
 * A dead G keeps its stack (Go's gfput/gfget): spawning reuses it with no
 * system call.  Slabs are unmapped when sact_run returns.
 */
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
#define SLAB_BYTES	(4UL << 20)
#define SLAB_MAX_SLOTS	64

struct slab {
	struct slab *next;
	char *base;
	size_t len;
	int nslots, used;
};

static long guard_budget(void)
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

static struct g *slot_g(struct slab *s, int i)
{
	char *end = s->base + (size_t)(i + 1) * sched.stack_size;

	return (struct g *)(end - ((sizeof(struct g) + 63) & ~63UL));
}

/* Set up slot i of s as a fresh G (gflock held). */
static struct g *slot_init(struct slab *s, int i)
{
	char *slot = s->base + (size_t)i * sched.stack_size;
	struct g *gp = slot_g(s, i);

	memset(gp, 0, sizeof(*gp));
	gp->timer_idx = -1;
	gp->stack_lo = slot + PAGE;
	gp->stack_hi = (char *)((uintptr_t)gp & ~15UL);
	if (sched.guards_left < 0)
		sched.guards_left = guard_budget();
	if (sched.guards_left > 0 && mprotect(slot, PAGE, PROT_NONE) == 0) {
		sched.guards_left--;
		gp->guarded = true;
	} else {
		sched.guards_left = 0;	/* out of budget or of VMAs */
		*(uint64_t *)gp->stack_lo = STACK_CANARY;
	}
#if defined(__SANITIZE_THREAD__)
	gp->tsan_fiber = __tsan_create_fiber(0);
#endif
	return gp;
}

/* A new G from a slab (gflock held); NULL when out of memory. */
static struct g *slab_alloc(void)
{
	struct slab *s = sched.slabs;

	if (!s || s->used == s->nslots) {
		size_t n = SLAB_BYTES / sched.stack_size;
		void *base;

		if (n < 1)
			n = 1;
		if (n > SLAB_MAX_SLOTS)
			n = SLAB_MAX_SLOTS;
		s = malloc(sizeof(*s));
		if (!s)
			return NULL;
		base = mmap(NULL, n * sched.stack_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (base == MAP_FAILED) {
			free(s);
			return NULL;
		}
		s->base = base;
		s->len = n * sched.stack_size;
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
		for (int i = 0; i < s->used; i++)
			__tsan_destroy_fiber(slot_g(s, i)->tsan_fiber);
#endif
		munmap(s->base, s->len);
		free(s);
		s = next;
	}
	sched.slabs = NULL;
	sched.gfree = NULL;
	sched.ngfree = 0;
	if (sched.allp)
		for (int i = 0; i < sched.nprocs; i++) {
			sched.allp[i].gfree = NULL;
			sched.allp[i].ngfree = 0;
		}
}
