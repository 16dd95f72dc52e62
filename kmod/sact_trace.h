/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sact_trace.h - sact.ko's tracepoints (events/sact/ in tracefs), which
 * replace the event ring of ABI 1: perf, bpftrace and trace-cmd see a
 * group's blocks and handoffs as they see the scheduler's switches, and
 * nothing is written when nobody listens.
 *
 * Every event names its group (@group: the debugfs id; @tgid: the owning
 * process, as the initial pid namespace numbers it), the M (@worker, its
 * index), and the CPU it happened on (@cpu).  SACT_NONE (4294967295) is
 * "no P" / "no M".  One handoff, in order: sact_block, sact_handoff (on
 * the blocking CPU, in the switch), sact_standby_wake (from the irq_work
 * right after it), then, when the blocked M runs again, sact_unblock and,
 * strict with no P to take, sact_park ... sact_park_end.
 *
 * CONTEXT of the calls: sact_block, sact_handoff: sched_out, rq lock and
 * g->lock held, irqs off.  sact_standby_wake: hard irq (irq_work), or
 * process context (a grant).  The others: process context.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM sact

#if !defined(_SACT_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SACT_TRACE_H

#include <linux/tracepoint.h>

#include "sact_internal.h"

/* An M of a running group left the CPU blocked while running G code. */
TRACE_EVENT(sact_block,
	TP_PROTO(const struct sact_group *g, u32 worker, u32 proc),
	TP_ARGS(g, worker, proc),
	TP_STRUCT__entry(
		__field(u64, group)
		__field(int, tgid)
		__field(u32, worker)
		__field(u32, proc)
		__field(int, cpu)
	),
	TP_fast_assign(
		__entry->group = g->id;
		__entry->tgid = pid_nr(g->pid);
		__entry->worker = worker;
		__entry->proc = proc;
		__entry->cpu = raw_smp_processor_id();
	),
	TP_printk("group=%llu tgid=%d worker=%u proc=%u cpu=%d",
		  __entry->group, __entry->tgid, __entry->worker,
		  __entry->proc, __entry->cpu)
);

/*
 * The kernel took P @proc from blocked M @worker: to standby (or, POOL, a
 * strict-parked M) @to, or to FREE (@to SACT_NONE).
 */
TRACE_EVENT(sact_handoff,
	TP_PROTO(const struct sact_group *g, u32 worker, u32 proc, u32 to),
	TP_ARGS(g, worker, proc, to),
	TP_STRUCT__entry(
		__field(u64, group)
		__field(int, tgid)
		__field(u32, worker)
		__field(u32, proc)
		__field(u32, to)
		__field(int, cpu)
	),
	TP_fast_assign(
		__entry->group = g->id;
		__entry->tgid = pid_nr(g->pid);
		__entry->worker = worker;
		__entry->proc = proc;
		__entry->to = to;
		__entry->cpu = raw_smp_processor_id();
	),
	TP_printk("group=%llu tgid=%d worker=%u proc=%u to=%u cpu=%d",
		  __entry->group, __entry->tgid, __entry->worker,
		  __entry->proc, __entry->to, __entry->cpu)
);

/* M @worker, waiting for a P, is woken holding P @proc. */
TRACE_EVENT(sact_standby_wake,
	TP_PROTO(const struct sact_group *g, u32 worker, u32 proc),
	TP_ARGS(g, worker, proc),
	TP_STRUCT__entry(
		__field(u64, group)
		__field(int, tgid)
		__field(u32, worker)
		__field(u32, proc)
		__field(int, cpu)
	),
	TP_fast_assign(
		__entry->group = g->id;
		__entry->tgid = pid_nr(g->pid);
		__entry->worker = worker;
		__entry->proc = proc;
		__entry->cpu = raw_smp_processor_id();
	),
	TP_printk("group=%llu tgid=%d worker=%u proc=%u cpu=%d",
		  __entry->group, __entry->tgid, __entry->worker,
		  __entry->proc, __entry->cpu)
);

/*
 * Blocked M @worker is about to return to user space: @proc is the P its
 * block took (SACT_NONE: none), @to the P it returns with if the kernel
 * gave it one (a grant, a strict reclaim), @parked whether it parks.
 */
TRACE_EVENT(sact_unblock,
	TP_PROTO(const struct sact_group *g, u32 worker, u32 proc, u32 to,
		 bool parked),
	TP_ARGS(g, worker, proc, to, parked),
	TP_STRUCT__entry(
		__field(u64, group)
		__field(int, tgid)
		__field(u32, worker)
		__field(u32, proc)
		__field(u32, to)
		__field(bool, parked)
		__field(int, cpu)
	),
	TP_fast_assign(
		__entry->group = g->id;
		__entry->tgid = pid_nr(g->pid);
		__entry->worker = worker;
		__entry->proc = proc;
		__entry->to = to;
		__entry->parked = parked;
		__entry->cpu = raw_smp_processor_id();
	),
	TP_printk("group=%llu tgid=%d worker=%u proc=%u to=%u parked=%d cpu=%d",
		  __entry->group, __entry->tgid, __entry->worker,
		  __entry->proc, __entry->to, __entry->parked, __entry->cpu)
);

/*
 * Strict: M @worker parks for a P (@proc: the one its block took), and its
 * park ends: @proc is the P it was granted, or SACT_NONE when a signal ended
 * the park.
 */
DECLARE_EVENT_CLASS(sact_park_class,
	TP_PROTO(const struct sact_group *g, u32 worker, u32 proc),
	TP_ARGS(g, worker, proc),
	TP_STRUCT__entry(
		__field(u64, group)
		__field(int, tgid)
		__field(u32, worker)
		__field(u32, proc)
		__field(int, cpu)
	),
	TP_fast_assign(
		__entry->group = g->id;
		__entry->tgid = pid_nr(g->pid);
		__entry->worker = worker;
		__entry->proc = proc;
		__entry->cpu = raw_smp_processor_id();
	),
	TP_printk("group=%llu tgid=%d worker=%u proc=%u cpu=%d",
		  __entry->group, __entry->tgid, __entry->worker,
		  __entry->proc, __entry->cpu)
);

DEFINE_EVENT(sact_park_class, sact_park,
	TP_PROTO(const struct sact_group *g, u32 worker, u32 proc),
	TP_ARGS(g, worker, proc));

DEFINE_EVENT(sact_park_class, sact_park_end,
	TP_PROTO(const struct sact_group *g, u32 worker, u32 proc),
	TP_ARGS(g, worker, proc));

/*
 * %SACT_IOC_GRANT gave P @proc to M @worker: @from is the caller's M index
 * (SACT_NONE: not a worker), @standby whether it was %SACT_GRANT_STANDBY.
 */
TRACE_EVENT(sact_grant,
	TP_PROTO(const struct sact_group *g, u32 from, u32 worker, u32 proc,
		 bool standby),
	TP_ARGS(g, from, worker, proc, standby),
	TP_STRUCT__entry(
		__field(u64, group)
		__field(int, tgid)
		__field(u32, from)
		__field(u32, worker)
		__field(u32, proc)
		__field(bool, standby)
		__field(int, cpu)
	),
	TP_fast_assign(
		__entry->group = g->id;
		__entry->tgid = pid_nr(g->pid);
		__entry->from = from;
		__entry->worker = worker;
		__entry->proc = proc;
		__entry->standby = standby;
		__entry->cpu = raw_smp_processor_id();
	),
	TP_printk("group=%llu tgid=%d from=%u worker=%u proc=%u standby=%d cpu=%d",
		  __entry->group, __entry->tgid, __entry->from,
		  __entry->worker, __entry->proc, __entry->standby,
		  __entry->cpu)
);

#endif /* _SACT_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE sact_trace
#include <trace/define_trace.h>
