// SPDX-License-Identifier: GPL-2.0
/*
 * sact_worker.c - workers, the preempt notifier, upcalls and strict mode.
 *
 * Design
 * ------
 * A worker (an M) registers itself: the ioctl installs a preempt notifier on
 * current.  The notifier is the whole hook:
 *
 *  sched_out (prepare_task_switch(): rq lock held, irqs off, current ==
 *  prev).  The task is *blocking* iff it is no longer runnable: __schedule()
 *  has dequeued it (deactivate_task(DEQUEUE_SLEEP) clears on_rq) before it
 *  picks the next task; a preempted or yielding task stays on_rq.  A task
 *  preempted right after set_current_state() still has a sleeping __state,
 *  so __state would be wrong.  From 6.12 a sleeping fair task may stay on_rq
 *  (delayed dequeue): task_is_runnable() says the same thing there.  If the
 *  worker runs G code on P p (its shared slot says so) and p's word says it
 *  holds it, the P moves to a parked standby (HANDOFF) or to FREE with one
 *  cmpxchg, the block is counted and traced, and the standby is pushed on
 *  a lock-free list and an irq_work queued: waking from here would take
 *  another rq lock under ours.  The irq_work runs as soon as this CPU
 *  enables irqs again, after the switch, and wakes the standby.  Everything
 *  here is plain stores, atomics, our raw spinlock and irq_work_queue().
 *
 *  sched_in (finish_task_switch(): rq lock dropped, irqs on, preemption
 *  off).  A worker that blocked queues its task_work with TWA_RESUME (a bit
 *  guards against queueing it twice).  The task_work runs in process
 *  context just before the return to user space - after a syscall or a
 *  page fault - counts the unblock and, in a strict group, parks the thread
 *  until it is given a P.  One block episode is one block and one unblock
 *  (counts, tracepoints) even if the task sleeps several times before it gets
 *  back to user space.
 *
 *  Where the strict park sleeps.  task_work_run() is not only the return to
 *  user space: io_uring_enter()'s wait loop, get_signal() and the ptrace
 *  stops run it too, and a task_work that sleeps holds up its caller and
 *  the works queued with it.  So the park never withholds anything:
 *  (a) it runs after every work queued before it: task_work_run() runs a
 *      batch newest first (ours, queued at sched_in, would run before the
 *      io_uring completion whose work woke the task, and park with the
 *      completion unposted), so a strict unblock's first run queues the
 *      work once more (SACT_WF_TW_AGAIN) and returns; task_work_run()
 *      takes that up after the rest of the batch;
 *  (b) it ends on a signal: a real one, a stop, a ptrace attach, or the
 *      TIF_NOTIFY_SIGNAL of a task_work queued later (an io_uring
 *      completion): the worker returns to its caller without a P (kproc
 *      SACT_NONE), which user space handles.  It is freezable.
 *  Completions posted by an io-wq worker do not need us.  A ring set up
 *  with DEFER_TASKRUN runs its completions only in its one submitter,
 *  which is this worker: they wait with it, and nobody else may reap them.
 *
 * Lifetime
 * --------
 * A worker holds a reference on the group's file, hence on the module and
 * the group.  The notifier fires one last time on the exiting task's final
 * switch (__state == TASK_DEAD); only then may the worker be freed: that
 * sched_out queues dead_work (irq_work), which queues release_work on
 * sact_wq (process context), which unlinks the worker and drops its
 * registration.  The task_work always runs before that final switch
 * (exit_task_work() precedes do_task_dead()).  The worker pins its task
 * (get_task_struct()), so REGISTER may look at an old worker's task: one
 * with PF_EXITING set (before its pthread_join() can return) gives its
 * index up at once, and its release_work finds it unlinked already.
 *
 * The last reference may be dropped (a) in an ioctl on the group's own
 * file, (b) in the task_work, (c) in release_work.  In all three the final
 * fput() cannot unload the module under our feet: (a) the syscall pins the
 * file; (b) fput() from a task defers __fput() to that same task's
 * task_work list, which runs after we returned; (c) a kworker's fput()
 * hands the file to delayed_fput, whose __fput() holds the module (the
 * file's f_op->owner) until ->release has returned.
 *
 * execve keeps the notifier but changes current->mm: sched_out ignores a
 * task whose mm is not the group's, and sched_in queues the task_work,
 * which unregisters the notifier (allowed there: not inside a notifier).
 * REGISTER in the new image does the same first, should no switch have
 * come yet.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/irq_work.h>
#include <linux/mm_types.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/timekeeping.h>
#include <linux/version.h>

#include "sact_internal.h"

#define CREATE_TRACE_POINTS
#include "sact_trace.h"

/*
 * A worker waiting for a P: a standby M parked in SACT_IOC_STANDBY (on
 * g->standby), or a worker parked by strict mode (on g->parked).  Lives on
 * the waiting task's stack; the task leaves only when it is off the list
 * (L) and, if it was picked, after its picker stored @done (the irq_work
 * for a block, sact_grant() for a grant): nothing touches the struct after
 * that.  w->wait points to it while it is on a list (L).
 */
struct sact_standby_wait {
	struct list_head	node;	/* L: on g->standby or g->parked */
	struct llist_node	llnode;	/* on g->wake_list once picked */
	struct task_struct	*task;	/* I: the waiting task */
	struct sact_worker	*w;	/* I */
	int			cpu;	/* I: CPU it parked on */
	bool			parked;	/* I: strict park, not STANDBY */
	u32			proc;	/* L: the P handed to it, SACT_NONE */
	int			done;	/* its picker is done with it */
};

static struct preempt_ops sact_preempt_ops;

static bool sact_task_runnable(struct task_struct *p)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
	return task_is_runnable(p);
#else
	return READ_ONCE(p->on_rq);
#endif
}

/*
 * Standbys sact_pick_standby() looks at: it runs under g->lock in
 * sched_out, and every worker of a group (up to SACT_WORKERS_LIMIT) may
 * stand by, so the look is bounded; a runtime parks about one standby
 * per P, and 64 Ps is the most a group has.
 */
#define SACT_STANDBY_SCAN	SACT_MAX_PROCS

/*
 * Pick a parked standby, preferring one that parked on @cpu (that CPU is
 * going idle: the wakeup is a local switch, no IPI) among the first
 * SACT_STANDBY_SCAN; else the first.
 * CONTEXT: g->lock held.
 */
static struct sact_standby_wait *sact_pick_standby(struct sact_group *g,
						   int cpu)
{
	struct sact_standby_wait *sb;
	unsigned int n = 0;

	list_for_each_entry(sb, &g->standby, node) {
		if (sb->cpu == cpu)
			return sb;
		if (++n == SACT_STANDBY_SCAN)
			break;
	}
	return list_first_entry_or_null(&g->standby, struct sact_standby_wait,
					 node);
}

/*
 * sact_take_word() - POOL: give worker @m a P whose word is @word (FREE, or
 * for a strict unblock also IDLE), if there is one.
 * CONTEXT: g->lock held.
 * Return: the P (now OWNED|m), or SACT_NONE.
 */
static u32 sact_take_word(struct sact_group *g, u32 m, u32 word)
{
	u32 p, nr = READ_ONCE(g->nr_procs);

	if (!(READ_ONCE(g->flags) & SACT_CONFIG_POOL))
		return SACT_NONE;
	for (p = 0; p < nr; p++)
		if (READ_ONCE(g->procs[p].word) == word &&
		    cmpxchg(&g->procs[p].word, word,
			    SACT_PW(SACT_P_OWNED, m)) == word)
			return p;
	return SACT_NONE;
}

/* POOL: a FREE P for worker @m.  CONTEXT: g->lock held. */
static u32 sact_take_free(struct sact_group *g, u32 m)
{
	return sact_take_word(g, m, SACT_P_FREE);
}

/* Does @word say worker @m holds the P?  HANDOFF|m counts as OWNED|m. */
static bool sact_word_names(u32 word, u32 m)
{
	return word == SACT_PW(SACT_P_OWNED, m) ||
	       word == SACT_PW(SACT_P_HANDOFF, m);
}

/*
 * sact_block() - a worker leaves the CPU blocked; hand its P off.
 *
 * Its P is the one its slot says (->proc), or, when that P's word names
 * another worker, the one the kernel gave it last (->kproc: at an unblock,
 * a grant, or a handoff to it parked) if that word names it: G code that
 * blocks again right after such a return, with no runtime entry between
 * (a plain read(), then write(), then read()), has not told us yet.  Left
 * with it, that P would wait out the whole block.
 *
 * CONTEXT: sched_out: rq lock held, irqs off, current == w->task.
 */
static void sact_block(struct sact_worker *w)
{
	struct sact_group *g = w->g;
	struct sact_mslot *ms = &g->mslots[w->index];
	struct sact_standby_wait *sb = NULL;
	u32 proc, to = SACT_NONE;
	bool handoff = false;

	if (READ_ONCE(ms->state) != SACT_M_RUNNING)
		return;
	proc = READ_ONCE(ms->proc);

	raw_spin_lock(&g->lock);
	if (test_bit(SACT_WF_UNLINKED, &w->flags))
		goto out_unlock;
	set_bit(SACT_WF_BLOCKED, &w->flags);
	w->blocked_proc = SACT_NONE;
	if (proc < READ_ONCE(g->nr_procs) &&
	    !sact_word_names(READ_ONCE(g->procs[proc].word), w->index) &&
	    READ_ONCE(ms->kproc) < READ_ONCE(g->nr_procs))
		proc = READ_ONCE(ms->kproc);
	if (proc < READ_ONCE(g->nr_procs)) {
		u32 *word = &g->procs[proc].word;
		u32 old = READ_ONCE(*word);

		if (sact_word_names(old, w->index)) {
			u32 new = SACT_P_FREE;

			sb = sact_pick_standby(g, raw_smp_processor_id());
			/* POOL: a worker parked by strict mode waits for a P */
			if (!sb && (READ_ONCE(g->flags) & SACT_CONFIG_POOL))
				sb = list_first_entry_or_null(&g->parked,
					struct sact_standby_wait, node);
			if (sb)
				new = SACT_PW(SACT_P_HANDOFF, sb->w->index);
			/* Fails only if user space changed the word under us. */
			if (cmpxchg(word, old, new) == old) {
				w->blocked_proc = proc;
				handoff = true;
				g->handoffs++;
				WRITE_ONCE(g->procs[proc].handoffs,
					   g->procs[proc].handoffs + 1);
			} else {
				sb = NULL;
			}
		}
	} else {
		proc = SACT_NONE;
	}
	if (sb) {
		struct sact_mslot *to_ms;

		to = sb->w->index;
		to_ms = &g->mslots[to];
		list_del(&sb->node);
		sb->w->wait = NULL;
		/* Read by the waiter without the lock, once, to stop waiting. */
		WRITE_ONCE(sb->proc, proc);
		if (!sb->parked) {
			g->nr_standby--;
			WRITE_ONCE(to_ms->kstate, SACT_MK_RUNNING);
			WRITE_ONCE(to_ms->standby_seq, to_ms->standby_seq + 1);
		}
		WRITE_ONCE(to_ms->kproc, proc);
		llist_add(&sb->llnode, &g->wake_list);
	}
	g->blocks++;
	WRITE_ONCE(ms->kstate, SACT_MK_BLOCKED);
	WRITE_ONCE(ms->blocks, ms->blocks + 1);
	trace_sact_block(g, w->index, proc);
	if (handoff)
		trace_sact_handoff(g, w->index, proc, to);
out_unlock:
	raw_spin_unlock(&g->lock);
	if (sb)
		irq_work_queue(&g->upcall_work);
}

/**
 * sact_upcall_work() - wake the standbys picked by sact_block()
 * @iw:	g->upcall_work
 *
 * Each standby's entry lives on its stack, so it is read first, then
 * released with @done, then the task is woken: the woken standby never
 * has to wait for us.  The task_struct may only be freed after an RCU
 * grace period (release_task() -> call_rcu()); the standby cannot start
 * exiting before it sees @done, which is after our rcu_read_lock(), so
 * the task is still there for wake_up_process() (a no-op if it is dead).
 *
 * CONTEXT: hard irq (irq_work), right after the switch that queued it.
 */
static void sact_upcall_work(struct irq_work *iw)
{
	struct sact_group *g = container_of(iw, struct sact_group, upcall_work);
	struct sact_standby_wait *sb, *next;
	struct llist_node *list = llist_del_all(&g->wake_list);
	struct task_struct *task;

	rcu_read_lock();
	llist_for_each_entry_safe(sb, next, list, llnode) {
		task = sb->task;
		atomic64_inc(&g->upcalls);
		trace_sact_standby_wake(g, sb->w->index, sb->proc);
		/*
		 * Last touch of *sb: pairs with the smp_load_acquire() in
		 * sact_standby(), after which its frame may go.
		 */
		smp_store_release(&sb->done, 1);
		wake_up_process(task);
	}
	rcu_read_unlock();
}

static void sact_sched_out(struct preempt_notifier *pn,
			   struct task_struct *next)
{
	struct sact_worker *w = container_of(pn, struct sact_worker, pn);
	struct task_struct *p = current;

	if (unlikely(p->flags & PF_EXITING)) {
		/* The final switch of a dead task: free after it. */
		if (READ_ONCE(p->__state) == TASK_DEAD &&
		    !test_and_set_bit(SACT_WF_DEAD, &w->flags))
			irq_work_queue(&w->dead_work);
		return;
	}
	if (sact_task_runnable(p))
		return;			/* preempted or yielding: not a block */
	if (unlikely(p->mm != w->g->mm))
		return;			/* after execve: not ours any more */
	if (test_bit(SACT_WF_BLOCKED, &w->flags) ||
	    test_bit(SACT_WF_STANDBY, &w->flags) ||
	    test_bit(SACT_WF_PARKED, &w->flags))
		return;			/* same episode, or parked by us */
	sact_block(w);
}

static void sact_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct sact_worker *w = container_of(pn, struct sact_worker, pn);
	struct task_struct *p = current;

	if (unlikely(p->flags & PF_EXITING))
		return;
	if (!test_bit(SACT_WF_BLOCKED, &w->flags) && likely(p->mm == w->g->mm))
		return;
	if (test_and_set_bit(SACT_WF_TW_QUEUED, &w->flags))
		return;
	refcount_inc(&w->ref);		/* for the task_work; we hold one */
	if (task_work_add(p, &w->tw, TWA_RESUME)) {
		clear_bit(SACT_WF_TW_QUEUED, &w->flags);
		refcount_dec(&w->ref);	/* not the last: registration holds one */
	}
}

static struct preempt_ops sact_preempt_ops = {
	.sched_in	= sact_sched_in,
	.sched_out	= sact_sched_out,
};

/*
 * sact_worker_put() - drop a reference; the last frees the worker.
 * CONTEXT: process context (an ioctl on the group's file, the worker's
 * task_work, or release_work): see "Lifetime" above.
 */
static void sact_worker_put(struct sact_worker *w)
{
	struct file *file = w->file;

	if (!refcount_dec_and_test(&w->ref))
		return;
	irq_work_sync(&w->dead_work);
	put_task_struct(w->task);
	kfree(w);
	/*
	 * The normal way, also in release_work (a kworker): the final
	 * __fput() runs from delayed_fput a jiffy later, holding the module
	 * through the file until ->release returned.  (__fput_sync() is for
	 * kthreads that own the file; ours is shared with other workers and
	 * the process.)
	 */
	fput(file);
}

/*
 * Take @w out of the group: no more events, its M slot free again.
 * Idempotent.  CONTEXT: g->lock held.
 */
static void __sact_worker_unlink(struct sact_worker *w)
{
	struct sact_group *g = w->g;
	struct sact_mslot *ms = &g->mslots[w->index];

	if (test_and_set_bit(SACT_WF_UNLINKED, &w->flags))
		return;
	g->workers[w->index] = NULL;
	g->nr_workers--;
	WRITE_ONCE(ms->tid, 0);
	WRITE_ONCE(ms->kstate, SACT_MK_UNREGISTERED);
	WRITE_ONCE(ms->kproc, SACT_NONE);
}

/* As above.  CONTEXT: process context, g->lock not held. */
static void sact_worker_unlink(struct sact_worker *w)
{
	raw_spin_lock_irq(&w->g->lock);
	__sact_worker_unlink(w);
	raw_spin_unlock_irq(&w->g->lock);
}

/* Unregister current's notifier; caller holds the registration ref. */
static void sact_worker_detach(struct sact_worker *w)
{
	preempt_disable();
	preempt_notifier_unregister(&w->pn);
	preempt_enable();
	sact_worker_unlink(w);
	sact_worker_put(w);		/* the registration */
}

static void sact_release_work(struct work_struct *work)
{
	struct sact_worker *w = container_of(work, struct sact_worker,
					     release_work);

	/* The task is gone; its notifier list with it. */
	sact_worker_unlink(w);
	sact_worker_put(w);		/* the registration */
}

/* CONTEXT: hard irq, after the dead task's final switch. */
static void sact_dead_work(struct irq_work *iw)
{
	struct sact_worker *w = container_of(iw, struct sact_worker, dead_work);

	queue_work(sact_wq, &w->release_work);
}

/*
 * sact_strict_park() - strict mode: wait, on g->parked, until a grant or
 * (POOL) a block hands us a P, or a signal.
 * @w:	current's worker, PARKED, @sb on g->parked (put there under the
 *	same g->lock hold that set PARKED)
 * @sb:	its entry
 *
 * CONTEXT: task_work, may sleep.
 */
static void sact_strict_park(struct sact_worker *w,
			     struct sact_standby_wait *sb)
{
	struct sact_group *g = w->g;
	struct sact_mslot *ms = &g->mslots[w->index];
	u32 proc;

	for (;;) {
		/*
		 * set_current_state() orders the state store before the
		 * load of sb->proc; the picker (sact_grant(), or
		 * sact_block() then the irq_work) stores sb->proc before
		 * wake_up_process(), which orders it before its state check.
		 */
		set_current_state(TASK_INTERRUPTIBLE | TASK_FREEZABLE);
		if (READ_ONCE(sb->proc) != SACT_NONE || signal_pending(current))
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);

	raw_spin_lock_irq(&g->lock);
	proc = sb->proc;
	if (proc == SACT_NONE) {
		list_del(&sb->node);
		w->wait = NULL;
	}
	clear_bit(SACT_WF_PARKED, &w->flags);
	WRITE_ONCE(ms->kstate, SACT_MK_RUNNING);
	if (proc != SACT_NONE)
		WRITE_ONCE(ms->kproc, proc);
	raw_spin_unlock_irq(&g->lock);
	trace_sact_park_end(g, w->index, proc);

	/* Picked: wait until the picker is done with *sb (see struct). */
	while (proc != SACT_NONE && !smp_load_acquire(&sb->done))
		cpu_relax();
}

/*
 * Take back P @p for @m if it is still FREE (nobody took it since the
 * block).  Only that P: a FREE P that was never @m's belongs to the
 * runtime's idle list, and taking it could strand the M it was taken from.
 * Return: @p, or SACT_NONE.
 */
static u32 sact_reclaim_proc(struct sact_group *g, u32 p, u32 m)
{
	if (p >= READ_ONCE(g->nr_procs))
		return SACT_NONE;
	if (cmpxchg(&g->procs[p].word, SACT_P_FREE,
		    SACT_PW(SACT_P_OWNED, m)) != SACT_P_FREE)
		return SACT_NONE;
	return p;
}

/*
 * The worker runs again: count the unblock, and in strict mode make sure it
 * returns to user space holding a P, or parks.
 * CONTEXT: task_work (process context, may sleep), current == w->task.
 */
static void sact_unblock(struct sact_worker *w)
{
	struct sact_group *g = w->g;
	struct sact_mslot *ms = &g->mslots[w->index];
	struct sact_standby_wait sb = {
		.task = current, .w = w, .parked = true, .proc = SACT_NONE,
	};
	u32 to = SACT_NONE, taken;
	bool park = false;

	raw_spin_lock_irq(&g->lock);
	if (test_bit(SACT_WF_UNLINKED, &w->flags)) {
		raw_spin_unlock_irq(&g->lock);
		return;
	}
	taken = w->blocked_proc;
	w->blocked_proc = SACT_NONE;
	if (w->grant != SACT_NONE) {
		to = w->grant;
		w->grant = SACT_NONE;
	} else if ((READ_ONCE(g->flags) & SACT_CONFIG_STRICT) &&
		   taken != SACT_NONE) {
		to = sact_reclaim_proc(g, taken, w->index);
		if (to == SACT_NONE)
			to = sact_take_free(g, w->index);	/* POOL */
		if (to == SACT_NONE) {
			/*
			 * POOL: a P user space idled (7).  User space stores
			 * the idle word, then reads our kstate; we store
			 * PARKED, then read the words: one side sees the
			 * other, so we take the P or it grants us one.
			 */
			WRITE_ONCE(ms->kstate, SACT_MK_PARKED);
			smp_mb();
			to = sact_take_word(g, w->index,
					    SACT_PW(SACT_P_IDLE, 0));
		}
		if (to != SACT_NONE) {
			g->reclaims++;
		} else {
			park = true;
			set_bit(SACT_WF_PARKED, &w->flags);
			sb.cpu = raw_smp_processor_id();
			list_add_tail(&sb.node, &g->parked);
			w->wait = &sb;
			g->strict_parks++;
		}
	}
	clear_bit(SACT_WF_BLOCKED, &w->flags);
	g->unblocks++;
	WRITE_ONCE(ms->unblocks, ms->unblocks + 1);
	WRITE_ONCE(ms->kstate, park ? SACT_MK_PARKED : SACT_MK_RUNNING);
	/* parked: no P until the park ends with one (a signal: none) */
	if (to != SACT_NONE || park)
		WRITE_ONCE(ms->kproc, to);
	/* under the lock: a grant for the park comes after these events */
	trace_sact_unblock(g, w->index, taken, to, park);
	if (park)
		trace_sact_park(g, w->index, taken);
	raw_spin_unlock_irq(&g->lock);

	if (park)
		sact_strict_park(w, &sb);
}

/*
 * A strict unblock may park: its first run queues the work again, to run
 * after the rest of its batch ("Where the strict park sleeps" (a)).
 * Return: true if queued again (it keeps SACT_WF_TW_QUEUED and the
 * reference); false on the second run, or when no park can follow.
 * CONTEXT: task_work of w->task.
 */
static bool sact_unblock_later(struct sact_worker *w, struct task_struct *p)
{
	if ((p->flags & PF_EXITING) || p->mm != w->g->mm ||
	    !test_bit(SACT_WF_BLOCKED, &w->flags) ||
	    !(READ_ONCE(w->g->flags) & SACT_CONFIG_STRICT) ||
	    test_and_set_bit(SACT_WF_TW_AGAIN, &w->flags))
		return false;
	return !task_work_add(p, &w->tw, TWA_RESUME);
}

/* CONTEXT: task_work of w->task (process context, may sleep). */
static void sact_task_work(struct callback_head *cb)
{
	struct sact_worker *w = container_of(cb, struct sact_worker, tw);
	struct task_struct *p = current;

	if (sact_unblock_later(w, p))
		return;
	clear_bit(SACT_WF_TW_AGAIN, &w->flags);
	clear_bit(SACT_WF_TW_QUEUED, &w->flags);
	if (unlikely(p->flags & PF_EXITING)) {
		/* Dying: no event, no park; the final switch cleans up. */
		clear_bit(SACT_WF_BLOCKED, &w->flags);
	} else if (unlikely(p->mm != w->g->mm)) {
		clear_bit(SACT_WF_BLOCKED, &w->flags);
		if (!test_bit(SACT_WF_UNLINKED, &w->flags))
			sact_worker_detach(w);
	} else if (test_bit(SACT_WF_BLOCKED, &w->flags)) {
		sact_unblock(w);
	}
	sact_worker_put(w);		/* the task_work's */
}

/*
 * Current's registration in @g, or NULL: found on current's own notifier
 * list (only current changes it), so no scan of the group's workers.  Any
 * group's when @g is NULL.
 * CONTEXT: current is not a kthread; any locks.
 */
static struct sact_worker *sact_current_worker(struct sact_group *g)
{
	struct preempt_notifier *pn;
	struct sact_worker *w;

	hlist_for_each_entry(pn, &current->preempt_notifiers, link) {
		if (pn->ops != &sact_preempt_ops)
			continue;
		w = container_of(pn, struct sact_worker, pn);
		if (!g || w->g == g)
			return w;
	}
	return NULL;
}

/*
 * A registration current carried across execve (its mm is the old
 * image's): the task_work that drops it runs only after a context switch
 * in the new image, which may not have come yet.  Drop it now.
 * CONTEXT: process context, may sleep.
 */
static void sact_detach_stale(void)
{
	struct preempt_notifier *pn;
	struct sact_worker *w;

again:
	hlist_for_each_entry(pn, &current->preempt_notifiers, link) {
		if (pn->ops != &sact_preempt_ops)
			continue;
		w = container_of(pn, struct sact_worker, pn);
		if (w->g->mm == current->mm)
			continue;
		sact_worker_detach(w);	/* changes the list: start over */
		goto again;
	}
}

/*
 * Has @w's thread begun to exit?  Its index is then free for REGISTER:
 * PF_EXITING is set before the thread's CLONE_CHILD_CLEARTID wake (in
 * exit_mm()), so pthread_join() returns only after it, while the final
 * switch that unlinks the worker comes later.  w->task is pinned.
 * CONTEXT: g->lock held (@w is linked).
 */
static bool sact_worker_exiting(struct sact_worker *w)
{
	return test_bit(SACT_WF_DEAD, &w->flags) ||
	       (READ_ONCE(w->task->flags) & PF_EXITING);
}

/**
 * sact_worker_register() - make current worker @index of @g
 * @g:		the group (current->mm == g->mm, checked by the caller)
 * @index:	M index
 *
 * The slot is reset: a worker at a reused index inherits nothing of the
 * previous one but its counts.  An index whose thread is exiting is taken
 * over at once (see sact_worker_exiting()).  The first REGISTER fixes the
 * group's layout (its cap).
 *
 * CONTEXT: process context, may sleep.
 * Return: 0, -EINVAL (@index beyond the cap), -ENOMEM, -EALREADY (current
 * is a worker of this process already), -EBUSY (index taken).
 */
int sact_worker_register(struct sact_group *g, u32 index)
{
	struct sact_worker *w, *old;
	struct sact_mslot *ms;
	int ret = 0;

	sact_detach_stale();
	if (sact_current_worker(NULL))
		return -EALREADY;
	w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
	if (!w)
		return -ENOMEM;
	preempt_notifier_init(&w->pn, &sact_preempt_ops);
	w->g = g;
	w->task = get_task_struct(current);
	w->index = index;
	w->blocked_proc = SACT_NONE;
	w->grant = SACT_NONE;
	w->sb_grant = SACT_NONE;
	refcount_set(&w->ref, 1);
	init_task_work(&w->tw, sact_task_work);
	init_irq_work(&w->dead_work, sact_dead_work);
	INIT_WORK(&w->release_work, sact_release_work);

	raw_spin_lock_irq(&g->lock);
	if (index >= g->max_workers) {
		ret = -EINVAL;
		goto out_unlock;
	}
	g->layout_fixed = true;
	old = g->workers[index];
	if (old && !sact_worker_exiting(old)) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (old)		/* its release_work only drops the reference */
		__sact_worker_unlink(old);
	ms = &g->mslots[index];
	g->workers[index] = w;
	g->nr_workers++;
	WRITE_ONCE(ms->state, SACT_M_IDLE);
	WRITE_ONCE(ms->proc, SACT_NONE);
	WRITE_ONCE(ms->tid, task_pid_vnr(current));
	WRITE_ONCE(ms->kstate, SACT_MK_RUNNING);
	WRITE_ONCE(ms->kproc, SACT_NONE);
out_unlock:
	raw_spin_unlock_irq(&g->lock);
	if (ret)
		goto out_free;

	w->file = get_file(g->file);
	preempt_disable();
	preempt_notifier_register(&w->pn);
	preempt_enable();
	return 0;

out_free:
	put_task_struct(w->task);
	kfree(w);
	return ret;
}

/**
 * sact_worker_unregister() - current stops being worker @index of @g
 * @g:		the group (current->mm == g->mm)
 * @index:	M index
 *
 * CONTEXT: process context, may sleep.
 * Return: 0, -EINVAL (@index beyond the cap), or -ENOENT if current is not
 * worker @index of @g.
 */
int sact_worker_unregister(struct sact_group *g, u32 index)
{
	struct sact_worker *w;

	raw_spin_lock_irq(&g->lock);
	if (index >= g->max_workers) {
		raw_spin_unlock_irq(&g->lock);
		return -EINVAL;
	}
	w = g->workers[index];
	if (!w || w != sact_current_worker(g))
		w = NULL;
	raw_spin_unlock_irq(&g->lock);
	if (!w)
		return -ENOENT;
	/* Only current unlinks itself (or release_work, once it is dead). */
	sact_worker_detach(w);
	return 0;
}

/**
 * sact_standby() - park current until a blocked worker's P is handed to it
 * @g:		the group (current->mm == g->mm)
 * @arg:	out: ->proc, ->worker
 *
 * CONTEXT: process context, sleeps interruptibly and freezably.
 * Return: the P index (>= 0), -ENOENT (not a worker of @g),
 * -ERESTARTSYS (a signal: -EINTR to a
 * handler without SA_RESTART, restarted otherwise).
 */
int sact_standby(struct sact_group *g, struct sact_standby *arg)
{
	struct sact_standby_wait sb = {
		.task = current,
		.proc = SACT_NONE,
	};
	struct sact_worker *w;
	struct sact_mslot *ms;
	u32 proc;

	raw_spin_lock_irq(&g->lock);
	w = sact_current_worker(g);
	if (!w) {
		raw_spin_unlock_irq(&g->lock);
		return -ENOENT;
	}
	ms = &g->mslots[w->index];
	/* A grant that came before us, or (POOL) a FREE P: no park. */
	proc = w->sb_grant;
	w->sb_grant = SACT_NONE;
	if (proc == SACT_NONE) {
		proc = sact_take_free(g, w->index);
		if (proc != SACT_NONE) {
			WRITE_ONCE(ms->standby_seq, ms->standby_seq + 1);
			WRITE_ONCE(ms->kproc, proc);
		}
	}
	if (proc != SACT_NONE) {
		raw_spin_unlock_irq(&g->lock);
		arg->proc = proc;
		arg->worker = w->index;
		return proc;
	}
	sb.w = w;
	sb.cpu = raw_smp_processor_id();
	set_bit(SACT_WF_STANDBY, &w->flags);
	list_add_tail(&sb.node, &g->standby);
	w->wait = &sb;
	g->nr_standby++;
	WRITE_ONCE(ms->kstate, SACT_MK_STANDBY);
	raw_spin_unlock_irq(&g->lock);

	for (;;) {
		/*
		 * sact_block() stores sb.proc before the irq_work calls
		 * wake_up_process() (sact_grant() before it calls it);
		 * set_current_state() orders our state store before this
		 * load: either we see the P or we are woken.
		 */
		set_current_state(TASK_INTERRUPTIBLE | TASK_FREEZABLE);
		if (READ_ONCE(sb.proc) != SACT_NONE || signal_pending(current))
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);

	raw_spin_lock_irq(&g->lock);
	proc = sb.proc;
	if (proc == SACT_NONE) {
		list_del(&sb.node);
		w->wait = NULL;
		g->nr_standby--;
		WRITE_ONCE(ms->kstate, SACT_MK_RUNNING);
	}
	clear_bit(SACT_WF_STANDBY, &w->flags);
	raw_spin_unlock_irq(&g->lock);
	/* Nothing happened: restart after the handler (or the freezer) */
	if (proc == SACT_NONE)
		return -ERESTARTSYS;

	/*
	 * Picked: the irq_work reads &sb until it stores sb.done, before it
	 * wakes us; we only get here first if a signal woke us, and then
	 * only for the few instructions until the irq_work (in hard irq
	 * context on the blocking CPU, queued already) gets there.  Pairs
	 * with the smp_store_release() in sact_upcall_work() (a grant sets
	 * it before it drops g->lock).
	 */
	while (!smp_load_acquire(&sb.done))
		cpu_relax();
	arg->proc = proc;
	arg->worker = w->index;
	return proc;
}

/*
 * sact_grant_waiter() - hand P @proc to the waiter @sb (off its list) and
 * take a reference on its task for the wakeup: once @sb->done is stored
 * the waiter may leave and exit.
 * CONTEXT: g->lock held.
 * Return: the task to wake_up_process() and put after the unlock.
 */
static struct task_struct *sact_grant_waiter(struct sact_standby_wait *sb,
					     u32 proc)
{
	struct task_struct *task = get_task_struct(sb->task);

	list_del(&sb->node);
	sb->w->wait = NULL;
	WRITE_ONCE(sb->proc, proc);
	/* pairs with the waiter's smp_load_acquire() of done */
	smp_store_release(&sb->done, 1);
	return task;
}

/**
 * sact_grant() - give a P to a worker that waits for one
 * @g:		the group (current->mm == g->mm)
 * @a:		checked by the caller: ->proc < nr_procs, ->flags 0 or
 *		%SACT_GRANT_STANDBY (with ->seq)
 *
 * Without flags the worker must be blocked, by a block that took its P
 * (it takes the granted one when it unblocks), or parked by strict mode
 * (woken with it).  A block that took no P is refused: its worker may
 * hold a P user space has not adopted yet (given to it, then a second
 * block before user space ran, its slot still naming the old P), and of
 * two Ps user space would adopt one and lose the other.  With
 * %SACT_GRANT_STANDBY it must be in %SACT_IOC_STANDBY (woken with the P)
 * or on its way there (its next STANDBY returns the P at once), and its
 * standby_seq must be ->seq: a standby a block already woke with another P
 * is not given a second one.
 *
 * CONTEXT: process context.
 * Return: 0, -EINVAL (->worker beyond the cap), -ENOENT (no such worker),
 * -EAGAIN (it waits for no P: not blocked, or its block took no P, or its
 * standby episode ->seq is over), -EBUSY (it has a P coming - a grant not
 * yet taken, also a %SACT_GRANT_STANDBY one -, or ->proc is neither FREE
 * nor the caller's).
 */
int sact_grant(struct sact_group *g, const struct sact_grant *a)
{
	bool standby = a->flags & SACT_GRANT_STANDBY;
	struct task_struct *wake = NULL;
	struct sact_mslot *ms;
	struct sact_worker *w, *me;
	u32 old, proc = a->proc;
	int ret = 0;

	raw_spin_lock_irq(&g->lock);
	if (a->worker >= g->max_workers) {
		ret = -EINVAL;
		goto out_unlock;
	}
	ms = &g->mslots[a->worker];
	w = g->workers[a->worker];
	if (!w || test_bit(SACT_WF_DEAD, &w->flags)) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (standby) {
		if (test_bit(SACT_WF_BLOCKED, &w->flags) ||
		    test_bit(SACT_WF_PARKED, &w->flags) ||
		    READ_ONCE(ms->standby_seq) != a->seq) {
			ret = -EAGAIN;
			goto out_unlock;
		}
		/* one pending grant: a second would strand the first's P */
		if (w->sb_grant != SACT_NONE) {
			ret = -EBUSY;
			goto out_unlock;
		}
	} else {
		bool lost_p = test_bit(SACT_WF_BLOCKED, &w->flags) &&
			      w->blocked_proc != SACT_NONE;

		if (!lost_p && !test_bit(SACT_WF_PARKED, &w->flags)) {
			ret = -EAGAIN;
			goto out_unlock;
		}
		/* a parked worker off g->parked was handed a P by a block */
		if (w->grant != SACT_NONE ||
		    (test_bit(SACT_WF_PARKED, &w->flags) && !w->wait)) {
			ret = -EBUSY;
			goto out_unlock;
		}
	}
	old = READ_ONCE(g->procs[proc].word);
	me = sact_current_worker(g);
	if (old != SACT_P_FREE && !(me && sact_word_names(old, me->index))) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (cmpxchg(&g->procs[proc].word, old,
		    SACT_PW(SACT_P_OWNED, a->worker)) != old) {
		ret = -EBUSY;
		goto out_unlock;
	}
	g->grants++;
	trace_sact_grant(g, me ? me->index : SACT_NONE, a->worker, proc,
			 standby);
	if (standby) {
		WRITE_ONCE(ms->standby_seq, ms->standby_seq + 1);
		WRITE_ONCE(ms->kproc, proc);
		if (w->wait) {
			g->nr_standby--;
			WRITE_ONCE(ms->kstate, SACT_MK_RUNNING);
			wake = sact_grant_waiter(w->wait, proc);
		} else {
			w->sb_grant = proc;
		}
	} else if (test_bit(SACT_WF_PARKED, &w->flags)) {
		wake = sact_grant_waiter(w->wait, proc);
	} else {
		WRITE_ONCE(w->grant, proc);
	}
out_unlock:
	raw_spin_unlock_irq(&g->lock);
	if (wake) {
		trace_sact_standby_wake(g, a->worker, proc);
		wake_up_process(wake);
		put_task_struct(wake);
	}
	return ret;
}

/**
 * sact_group_init_upcalls() - set up the upcall machinery of a new group
 * @g:	the group
 *
 * CONTEXT: process context.
 */
void sact_group_init_upcalls(struct sact_group *g)
{
	INIT_LIST_HEAD(&g->standby);
	INIT_LIST_HEAD(&g->parked);
	init_llist_head(&g->wake_list);
	g->upcall_work = IRQ_WORK_INIT_HARD(sact_upcall_work);
}

/**
 * sact_group_sync_upcalls() - wait until no upcall of @g is running
 * @g:	the group, with no worker and no standby left
 *
 * CONTEXT: process context.
 */
void sact_group_sync_upcalls(struct sact_group *g)
{
	irq_work_sync(&g->upcall_work);
}

/**
 * sact_notifier_init() - enable preempt notifiers (a static key)
 *
 * CONTEXT: module init.
 * Return: 0.
 */
int sact_notifier_init(void)
{
	preempt_notifier_inc();
	return 0;
}

/**
 * sact_notifier_exit() - drop our enable of preempt notifiers
 *
 * CONTEXT: module exit; no worker is registered (each pins the module).
 */
void sact_notifier_exit(void)
{
	preempt_notifier_dec();
}
