/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sact_internal.h - what sact_main.c (device, groups, ioctls) and
 * sact_worker.c (workers, the preempt notifier, upcalls) share.
 */
#ifndef SACT_INTERNAL_H
#define SACT_INTERNAL_H

#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/preempt.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/workqueue.h>

#include <linux/sact.h>

#ifndef CONFIG_PREEMPT_NOTIFIERS
#error "sact needs CONFIG_PREEMPT_NOTIFIERS=y (distribution kernels with KVM have it)"
#endif

/*
 * Locking legend for struct sact_group and struct sact_worker:
 *
 *  I: set before the object is published, constant afterwards.
 *  L: g->lock, a raw spinlock.  Taken in the sched_out notifier (rq lock
 *     held, irqs off) and elsewhere with irqs off (raw_spin_lock_irq): an
 *     interrupt on a holder's CPU could otherwise wait on that CPU's rq lock
 *     while the sched_out path on another CPU holds it and waits for g->lock.
 *     Lock order: rq->lock -> g->lock.  Nothing is ever woken, allocated or
 *     printed with g->lock held, and no loop under it visits the workers:
 *     the block path looks at its own slot, at most SACT_STANDBY_SCAN
 *     standbys and the parked list's head; a POOL take walks the
 *     Ps (at most SACT_MAX_PROCS).  An ioctl finds current's worker on
 *     current's own notifier list.
 *  F: the layout: written under L while g->layout_fixed is false, constant
 *     once it is true (set under L by the first mmap or REGISTER).  Read
 *     under L, or without it by code that runs only after the layout was
 *     fixed (a registered worker, a mapped area).
 *  A: atomic (atomic64_t, bit operations), no lock.
 *  T: touched only by the worker's own task (current == w->task).
 *  G: sact_groups_lock (mutex): the global list of groups.
 */

struct sact_worker;
struct sact_standby_wait;

/*
 * struct sact_group - one open /dev/sact: a process's workers and Ps
 *
 * Lifetime: the struct file.  Every registered worker holds a reference on
 * the file (hence on the module, through fops->owner), so ->release runs
 * only when no worker is left; a standby parked in an ioctl holds the file
 * through the syscall.
 */
struct sact_group {
	raw_spinlock_t		lock;
	struct mm_struct	*mm;		/* I: owner, mmgrab()ed */
	struct file		*file;		/* I */
	void			*shm;		/* F: accounted __vmalloc() */
	size_t			shm_size;	/* F: its length */
	u32			max_workers;	/* F: the cap; mslots, workers */
	bool			layout_fixed;	/* L */
	struct sact_shm_header	*hdr;		/* F: in shm */
	struct sact_proc	*procs;		/* F: in shm */
	struct sact_mslot	*mslots;	/* F: in shm */
	kuid_t			uid;		/* I: opener's uid, for debugfs */
	kuid_t			cap_uid;	/* I: counted against: see open */
	struct pid		*pid;		/* I: opener's tgid, get_pid()ed */
	u64			id;		/* I: for debugfs */
	u32			flags;		/* L (READ_ONCE outside): SACT_CONFIG_* */
	u32			nr_procs;	/* L (READ_ONCE outside) */
	struct sact_worker	**workers;	/* F (the array), L (entries) */
	u32			nr_workers;	/* L */
	struct list_head	standby;	/* L: struct sact_standby_wait */
	u32			nr_standby;	/* L */
	/* L: strict-parked workers' struct sact_standby_wait (POOL: a block
	 * with no standby hands its P to the first) */
	struct list_head	parked;
	struct llist_head	wake_list;	/* A: standbys to wake */
	struct irq_work		upcall_work;	/* A: wakes wake_list */
	/* counters, L but upcalls (A) */
	u64			blocks, unblocks, handoffs, strict_parks;
	u64			reclaims, grants;
	atomic64_t		upcalls;
	struct list_head	node;		/* G */
};

/* struct sact_worker.flags bits (A) */
enum {
	SACT_WF_BLOCKED,	/* blocked while running G code, not yet unblocked */
	SACT_WF_TW_QUEUED,	/* w->tw is queued on the task */
	SACT_WF_TW_AGAIN,	/* w->tw queued itself once more (strict) */
	SACT_WF_STANDBY,	/* parked in SACT_IOC_STANDBY */
	SACT_WF_PARKED,		/* parked by strict mode in the task_work */
	SACT_WF_UNLINKED,	/* out of g->workers[]: acts no more */
	SACT_WF_DEAD,		/* the task switched out for the last time */
};

/*
 * struct sact_worker - a registered thread (an M)
 *
 * Lifetime: @ref counts the registration (dropped at unregister, at the
 * execve detach, or after the task's last context switch) and a queued
 * task_work.  The last put frees it and puts the file: see sact_worker_put().
 */
struct sact_worker {
	struct preempt_notifier	pn;		/* T: on task->preempt_notifiers */
	struct sact_group	*g;		/* I */
	struct file		*file;		/* I: get_file(g->file) */
	/* I: pinned (get_task_struct()) until the worker is freed */
	struct task_struct	*task;
	u32			index;		/* I: the M index */
	refcount_t		ref;		/* A */
	unsigned long		flags;		/* A: SACT_WF_* */
	u32			blocked_proc;	/* L: P taken at the block */
	u32			grant;		/* L: P granted, SACT_NONE */
	/* L: P granted by SACT_GRANT_STANDBY before the worker entered
	 * SACT_IOC_STANDBY (its next STANDBY returns it), SACT_NONE */
	u32			sb_grant;
	/* L: the worker's entry on g->standby or g->parked, or NULL */
	struct sact_standby_wait *wait;
	struct callback_head	tw;		/* unblock / detach task_work */
	struct irq_work		dead_work;	/* after the last switch */
	struct work_struct	release_work;	/* ... then this, on sact_wq */
};

extern struct workqueue_struct *sact_wq;

int sact_worker_register(struct sact_group *g, u32 index);
int sact_worker_unregister(struct sact_group *g, u32 index);
int sact_standby(struct sact_group *g, struct sact_standby *arg);
int sact_grant(struct sact_group *g, const struct sact_grant *a);
void sact_group_init_upcalls(struct sact_group *g);
void sact_group_sync_upcalls(struct sact_group *g);
int sact_notifier_init(void);
void sact_notifier_exit(void);

#endif /* SACT_INTERNAL_H */
