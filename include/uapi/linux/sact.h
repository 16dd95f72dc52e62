/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sact.h - the ABI between the sact.ko module (/dev/sact) and its users.
 *
 * A *group* is one open file of /dev/sact.  It belongs to the mm (process)
 * that opened it: every ioctl but %SACT_IOC_VERSION, and mmap, fail with
 * -EPERM from any other mm (a forked child, a process the fd was passed to,
 * the image that replaced the opener by execve).  mmap of the fd maps the
 * group's shared memory, laid out below: MAP_SHARED only (a private
 * mapping is -EINVAL), offset 0, at most sact_shm_header.size bytes, never
 * executable (-EPERM), never inherited by fork (madvise(MADV_DOFORK) on it
 * is -EINVAL), not growable by mremap.
 *
 * Size rules.  Every ioctl argument begins with a __u32 size (the caller's
 * sizeof), so the ABI can grow: the module accepts sizes from the first
 * published size up to its own, treats missing tail fields as zero, and
 * rejects a larger struct whose unknown tail is not zero (-E2BIG); a size
 * below the first published one is -EINVAL, one above a page -E2BIG, an
 * unreadable struct -EFAULT.  Replies are written back only as far as the
 * caller's size reaches.  Reserved fields and unknown flags must be zero
 * (-EINVAL).  Indexes out of range are -EINVAL.
 *
 * Numbers.  The module dispatches on the ioctl's type (%SACT_IOC_MAGIC)
 * and number (_IOC_NR) only: the size and direction bits that _IOW() and
 * friends encode are ignored, the struct's own size field is the
 * authority.  So a binary built against an older header, whose numbers
 * encode the older sizes, keeps working as the structs grow.  A number
 * the module does not know is -ENOTTY.
 *
 * Vocabulary (Go's): an M is a worker thread, a P the right to run user-level
 * threads (Gs).  Ps and Ms are named by their index in the shared arrays.
 */
#ifndef _UAPI_LINUX_SACT_H
#define _UAPI_LINUX_SACT_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define SACT_DEVICE		"/dev/sact"
#define SACT_IOC_MAGIC		0xb7

/*
 * Bumped on every incompatible change; compatible growth keeps it.
 * 2: the event ring is gone (tracepoints, events/sact/ in tracefs, say
 * what it said); every other offset of the shared area is ABI 1's.
 */
#define SACT_ABI_VERSION	2

/* Capacities of a group (the layout below depends on them). */
#define SACT_MAX_PROCS		64	/* P indexes 0..63 */
/*
 * Workers (Ms): each group has its own cap, sact_group_config.max_workers,
 * fixed when the group's layout is (see %SACT_IOC_CONFIG); M indexes are
 * 0..cap-1.  0 asks for the default, %SACT_MAX_WORKERS; the cap may be up
 * to %SACT_WORKERS_LIMIT (below the P word's 16-bit owner field).
 */
#define SACT_MAX_WORKERS	128	/* the default cap on workers */
#define SACT_WORKERS_LIMIT	16384	/* the largest cap a group may ask */
/*
 * Modules before this rule refused %SACT_IOC_STANDBY past this many parked
 * workers (-ENOSPC); now every worker of a group may stand by at once (a
 * worker parks once at a time, so the group's cap bounds them).
 */
#define SACT_MAX_STANDBY	32

#define SACT_NONE		0xffffffffU	/* "no P" / "no M" */

/*
 * ========================================================================
 * The state of a P and of an M
 * ========================================================================
 *
 * Each P has one 32-bit word, sact_proc.word, that says who holds it.  Both
 * sides change it, with compare-and-exchange only (a 32-bit atomic cmpxchg in
 * user space, cmpxchg() in the kernel), so a user-space release racing with
 * a kernel handoff has exactly one winner:
 *
 *	state (bits 16-17)   owner (bits 0-15)
 *	SACT_P_FREE   0      ignored; the canonical free word is 0
 *	SACT_P_OWNED  1      the M that holds the P
 *	SACT_P_HANDOFF 2     the standby M the kernel gave the P to
 *	SACT_P_IDLE   3      ignored; the canonical idle word is
 *	                     SACT_PW(SACT_P_IDLE, 0): a P user space idled
 *
 *                 user: acquire (cmpxchg)
 *       +------+ ---------------------------> +-----------+
 *       | FREE |                              | OWNED | m |
 *       +------+ <--------------------------- +-----------+
 *         ^  ^      user: release (cmpxchg)     |    ^   |
 *         |  |                                  |    |   |
 *         |  +--- kernel: m blocked, no --------+    |   | kernel: m blocked,
 *         |       standby parked (1)                 |   | standby s parked (2)
 *         |                                          |   v
 *         |          user: s acknowledges (3)   +-------------+
 *         |    OWNED|s <----------------------- | HANDOFF | s |
 *         |                                     +-------------+
 *         +-- kernel: strict unblock takes m's own P back if FREE (4),
 *             or %SACT_IOC_GRANT gives a FREE P (or the caller's) to m (5);
 *             POOL (6): STANDBY, or a strict unblock, takes any FREE P
 *             (-> OWNED|s), and a block with no standby but a worker
 *             parked by (4) goes to HANDOFF|that worker, not FREE
 *
 * (1) Block without standby.  M m runs G code (its sact_mslot says
 *     state == SACT_M_RUNNING and proc == p) and blocks in the kernel (it
 *     leaves the CPU and is not runnable: a sleeping syscall, a page fault
 *     that waits for I/O, a futex).  If word[p] is OWNED|m (or HANDOFF|m),
 *     the kernel moves it to FREE and counts a handoff (tracepoints
 *     sact_block, sact_handoff with to == SACT_NONE).  Any M may then
 *     acquire p.
 *
 * (2) Block with a standby.  As (1), but an M is parked in
 *     %SACT_IOC_STANDBY: the kernel picks one (preferring one that last ran
 *     on the blocking CPU), moves word[p] to HANDOFF|s (sact_handoff with
 *     to == s), and wakes s (from an irq_work, right after the switch:
 *     sact_standby_wake).  The ioctl of s returns p.  No thread is created.
 *
 * (3) Acknowledge.  s runs G code on p.  It may leave the word HANDOFF|s
 *     (the kernel treats HANDOFF|s like OWNED|s) or cmpxchg it to OWNED|s.
 *
 * (4) Unblock, strict group.  When m runs again it counts an unblock
 *     (sact_unblock) before it returns to user space.  In a %SACT_CONFIG_STRICT group, if its P was
 *     taken at (1)/(2), the kernel takes that P back if it is still FREE;
 *     failing that, m parks in the kernel until (5) or a signal, after
 *     any task_work queued before the park (sact(4): where it sleeps),
 *     so no more Ms than Ps run G code even across blocking that no wrapper
 *     saw.  The P m ends up with (or SACT_NONE) is in sact_mslot.kproc.  Without STRICT the kernel does not touch Ps on
 *     unblock: user space checks word[p] after every call that may block.
 *
 * (5) Grant.  %SACT_IOC_GRANT moves a P that is FREE, or held by the
 *     calling M, to OWNED|m for an M whose block took its P, (1) or (2),
 *     or that is parked by (4), and wakes it.  An M whose block took no P
 *     is refused: it may hold a P it has not yet acknowledged (given to it
 *     while it waited, before it blocked again), and one M never holds
 *     two.  With %SACT_GRANT_STANDBY it does the same for an M
 *     parked in %SACT_IOC_STANDBY (or about to call it), so user space
 *     can wake a standby of its choosing with a P: see struct sact_grant.
 *
 * (6) Pool (a %SACT_CONFIG_POOL group).  A FREE P never waits while a
 *     worker waits for a P; every check is made under the group lock, so
 *     no ordering of a block against a worker starting to wait leaves a
 *     FREE P and a waiting worker behind:
 *     - %SACT_IOC_STANDBY called while a P is FREE takes it at once
 *       (FREE -> OWNED|s) instead of parking;
 *     - a strict unblock (4) that cannot take its own P back takes any
 *       FREE P before it parks;
 *     - a block (1) with no standby parked gives the P to the first
 *       worker parked by (4) (HANDOFF|m, woken as in (2)) before it
 *       makes it FREE.
 *     Without POOL, a FREE P stays FREE until user space acquires it
 *     (the idle state of a P user space released).
 *
 * (7) Idle (POOL).  User space may park a P it holds and has no work for
 *     as SACT_PW(%SACT_P_IDLE, 0) (cmpxchg), and takes it back the same
 *     way.  The kernel never hands such a P to %SACT_IOC_STANDBY (the M
 *     that idled it is about to park there) and never makes it FREE; only
 *     a strict unblock (4) takes it, after its own P and any FREE P, and
 *     before it would park.  So a worker that comes back from a block
 *     while user space has Ps idle runs on one of them: without (7) it
 *     would park until a grant, and if every other M were blocked or
 *     parked no M would be left to grant.  User space learns it from
 *     sact_mslot.kproc, as for any P the kernel gives at unblock.
 *
 * Each M has a slot, sact_mslot: two words user space writes (state, proc:
 * "I run G code on P proc"), and words the kernel writes (kstate, kproc,
 * counts).  kstate:
 *
 *   UNREGISTERED --register--> RUNNING --blocks (1)(2)--> BLOCKED
 *        ^                      ^  ^  |                      |
 *        +--unregister/exit-----+  |  +--STANDBY ioctl--> STANDBY
 *                                  |                      (until handed a P
 *                                  |                       by a block or a
 *                                  |                       grant, or a signal)
 *     unblock (4), grant, a block (6), or a signal <-- PARKED (strict only)
 *
 * ========================================================================
 * Shared memory: who writes, who reads, with what atomicity
 * ========================================================================
 * K = the kernel writes, U = user space writes.  The kernel writes through
 * its own mapping and never trusts what it reads: every index is range
 * checked, every word read once (READ_ONCE).  User space can corrupt its own
 * view, never the kernel.
 */

/*
 * Offsets of the parts of the area (bytes from the start of the mapping).
 * The header and the Ps are at fixed offsets; the M slots follow, one per
 * worker the group's cap allows, rounded up to a page, to the end of the
 * area.  The header says how long the area is (also in the reply of
 * %SACT_IOC_CONFIG): user space maps sact_shm_header.size bytes.
 * SACT_SHM_SIZE is the length for the default cap.
 */
#define SACT_SHM_HEADER_OFFSET	0
#define SACT_SHM_PROCS_OFFSET	4096
#define SACT_SHM_WORKERS_OFFSET	8192
#define SACT_SHM_WORKERS_BYTES(n) \
	((((n) * 64U) + 4095U) & ~4095U)	/* n M slots, page rounded */
#define SACT_SHM_SIZE_FOR(n) \
	(SACT_SHM_WORKERS_OFFSET + SACT_SHM_WORKERS_BYTES(n))
#define SACT_SHM_SIZE		SACT_SHM_SIZE_FOR(SACT_MAX_WORKERS)

/**
 * struct sact_shm_header - page 0 of the shared area
 *
 * The fields written "once" are written before the area can be mapped.
 * @size:	K, once: the area's length, SACT_SHM_SIZE_FOR(@max_workers).
 * @abi:	K, once: SACT_ABI_VERSION.
 * @max_procs:	K, once: SACT_MAX_PROCS.
 * @max_workers: K, once: the group's cap on workers (M slots).
 * @__reserved0: zero (ABI 1: the ring's entries).
 * @procs_offset: K, once: SACT_SHM_PROCS_OFFSET.
 * @workers_offset: K, once: SACT_SHM_WORKERS_OFFSET.
 * @__reserved1: zero (ABI 1: the ring's offset).
 * @nr_procs:	K, by %SACT_IOC_CONFIG (plain store; informational).
 * @flags:	K, by %SACT_IOC_CONFIG: SACT_CONFIG_* (plain store).
 * @__reserved: zero.
 * @__reserved2: zero (ABI 1: the ring's head, overflow count and tail).
 */
struct sact_shm_header {
	__u32 size;
	__u32 abi;
	__u32 max_procs;
	__u32 max_workers;
	__u32 __reserved0;
	__u32 procs_offset;
	__u32 workers_offset;
	__u32 __reserved1;
	__u32 nr_procs;
	__u32 flags;
	__u32 __reserved[6];
	__u64 __reserved2[16];		/* offset 64 */
};

/* sact_proc.word */
#define SACT_P_FREE		0U
#define SACT_P_OWNED		1U
#define SACT_P_HANDOFF		2U
#define SACT_P_IDLE		3U	/* (7): only a strict unblock takes it */
#define SACT_PW(state, m)	(((state) << 16) | ((m) & 0xffffU))
#define SACT_PW_STATE(word)	(((word) >> 16) & 0x3U)
#define SACT_PW_OWNER(word)	((word) & 0xffffU)

/**
 * struct sact_proc - one P (SACT_MAX_PROCS of them, 64 bytes each)
 * @word:	U and K, 32-bit cmpxchg only: SACT_PW(state, owner), see above.
 * @handoffs:	K, under the group lock: times the kernel took this P from a
 *		blocked M (transitions (1) and (2)).
 * @__pad:	zero (one cache line per P).
 */
struct sact_proc {
	__u32 word;
	__u32 handoffs;
	__u32 __pad[14];
};

/* sact_mslot.state (U) */
#define SACT_M_IDLE		0U	/* not running G code (scheduler, parked) */
#define SACT_M_RUNNING		1U	/* running G code on sact_mslot.proc */

/* sact_mslot.kstate (K) */
#define SACT_MK_UNREGISTERED	0U
#define SACT_MK_RUNNING		1U
#define SACT_MK_BLOCKED		2U
#define SACT_MK_STANDBY		3U
#define SACT_MK_PARKED		4U

/**
 * struct sact_mslot - one M (the group's cap of them, 64 bytes each)
 * @state:	U (the M itself; plain 32-bit store), K reads it once when the
 *		M blocks: SACT_M_*.  Set SACT_M_RUNNING only while running G code.
 * @proc:	U (the M itself; plain 32-bit store, before @state goes to
 *		RUNNING), K reads it once when the M blocks: the P it holds.
 * @kstate:	K, under the group lock: SACT_MK_*; U reads.
 * @kproc:	K, under the group lock: the P the kernel last gave this M
 *		(standby handoff, strict reclaim, grant), else SACT_NONE.
 * @blocks:	K: block episodes of this M (wraps).
 * @unblocks:	K: their ends, the M about to return to user space (wraps).
 * @tid:	K: the registered thread's id, as gettid() returned it in
 *		that thread (0 when the slot is free).
 *
 * REGISTER resets @state (SACT_M_IDLE), @proc and @kproc (SACT_NONE) and
 * @kstate: a worker at a reused index inherits nothing of the previous one
 * but the counts and @standby_seq, which only grow.
 * @standby_seq: K, under the group lock: times this M was given a P as a
 *		standby (by a block (2), by %SACT_GRANT_STANDBY, or a FREE P
 *		at the entry of %SACT_IOC_STANDBY in a POOL group) (wraps).
 *		User space reads it before it sends the M into
 *		%SACT_IOC_STANDBY and passes it to %SACT_GRANT_STANDBY: a
 *		grant for a standby episode that already ended fails.
 * @__pad:	zero (one cache line per M).
 */
struct sact_mslot {
	__u32 state;
	__u32 proc;
	__u32 kstate;
	__u32 kproc;
	__u32 blocks;
	__u32 unblocks;
	__u32 tid;
	__u32 standby_seq;
	__u32 __pad[8];
};

/*
 * ========================================================================
 * ioctls
 * ========================================================================
 */

/**
 * struct sact_version - reply of %SACT_IOC_VERSION (any process)
 * @size:	in: sizeof(struct sact_version) as the caller knows it
 * @abi:	out: %SACT_ABI_VERSION of the running module
 */
struct sact_version {
	__u32 size;
	__u32 abi;
};

#define SACT_CONFIG_STRICT	0x1U	/* park unblocked Ms without a P */
#define SACT_CONFIG_POOL	0x2U	/* FREE Ps go to waiting Ms: (6) */

/**
 * struct sact_group_config - argument and reply of %SACT_IOC_CONFIG
 * @size:	in: sizeof(struct sact_group_config); %SACT_CONFIG_SIZE_VER0
 *		(no @shm_size, no @__reserved) is accepted
 * @flags:	in: SACT_CONFIG_*
 * @nr_procs:	in: Ps in use, 1..SACT_MAX_PROCS (block handling ignores P
 *		indexes >= nr_procs); the default is SACT_MAX_PROCS
 * @max_workers: in: the group's cap on workers, 1..%SACT_WORKERS_LIMIT, 0
 *		for the default %SACT_MAX_WORKERS (the field was a reserved
 *		zero in the first published struct, so old binaries get the
 *		default); out: the cap in force
 * @shm_size:	out: the length of the shared area to mmap (ignored in)
 * @__reserved:	must be 0
 *
 * The cap sizes the shared area's M slots, so it can change only until the
 * group's layout is fixed, by the first mmap or REGISTER: a later CONFIG
 * may change @flags and @nr_procs but must ask for the same cap (-EBUSY).
 * The area is charged to the caller's memory cgroup (-ENOMEM past its
 * limit).
 */
struct sact_group_config {
	__u32 size;
	__u32 flags;
	__u32 nr_procs;
	__u32 max_workers;
	__u32 shm_size;
	__u32 __reserved;
};

#define SACT_CONFIG_SIZE_VER0	16	/* the first published size */

/**
 * struct sact_worker_args - argument of %SACT_IOC_REGISTER / _UNREGISTER
 * @size:	sizeof(struct sact_worker_args)
 * @flags:	must be 0
 * @worker:	the M index to take (register) or give back (unregister)
 * @__reserved:	must be 0
 *
 * REGISTER makes the calling thread worker M @worker: -EINVAL for an index
 * >= the group's cap, -EBUSY if the index is taken by a live thread,
 * -EALREADY if the thread is a worker already (of any group of its
 * process).  The index of a thread that has begun to exit is free: at the
 * latest when pthread_join() (the thread's CLONE_CHILD_CLEARTID wake)
 * returns, REGISTER takes it over.  REGISTER resets the slot (see struct
 * sact_mslot).  UNREGISTER: -ENOENT unless the calling thread is worker
 * @worker of this group.  A worker that exits is unregistered by the
 * kernel; one that calls execve is unregistered before the new image
 * returns to user space, is counted and traced no more after its mm
 * changed, and may REGISTER in a group of the new image at once.
 */
struct sact_worker_args {
	__u32 size;
	__u32 flags;
	__u32 worker;
	__u32 __reserved;
};

/**
 * struct sact_standby - argument of %SACT_IOC_STANDBY
 * @size:	sizeof(struct sact_standby)
 * @flags:	must be 0
 * @proc:	out: the P handed to the caller
 * @worker:	out: the caller's M index
 *
 * A registered worker parks in the module until another worker of the group
 * blocks and its P is handed to it, or a %SACT_GRANT_STANDBY grant gives it
 * one (returns the P index, >= 0), or a signal arrives: -EINTR if a
 * handler without SA_RESTART runs, else (SA_RESTART, a stop, ptrace, the
 * freezer) the call restarts.  The wait is freezable.  It returns at
 * once, with no park, when a %SACT_GRANT_STANDBY grant came before the
 * call, or (POOL group) when a P is FREE: it takes it.  -ENOENT if the
 * caller is not a worker of the group.  Every worker of the group may
 * stand by at once (%SACT_MAX_STANDBY is no cap any more).
 */
struct sact_standby {
	__u32 size;
	__u32 flags;
	__u32 proc;
	__u32 worker;
};

#define SACT_GRANT_STANDBY	0x1U	/* to a standby; @seq says which */

/**
 * struct sact_grant - argument of %SACT_IOC_GRANT
 * @size:	sizeof(struct sact_grant); %SACT_GRANT_SIZE_VER0 (no @seq)
 *		is accepted
 * @flags:	0 or %SACT_GRANT_STANDBY
 * @worker:	the M to give a P to.  Without flags: it must have blocked
 *		by a block that took its P, (1) or (2), and not yet returned
 *		to user space, or be parked by strict mode.  With
 *		%SACT_GRANT_STANDBY: it must be parked in
 *		%SACT_IOC_STANDBY, or not blocked, not parked and about to
 *		call it (its next STANDBY returns the P at once), and its
 *		sact_mslot.standby_seq must still be @seq
 * @proc:	the P: FREE, or held by the calling worker
 * @seq:	%SACT_GRANT_STANDBY: the standby_seq user space read before
 *		the M went to wait; else must be 0
 * @__reserved:	must be 0
 *
 * -ENOENT: no such worker; -EAGAIN: it is not waiting for a P (also a
 * block that took no P: it may hold one it has not adopted yet; with
 * %SACT_GRANT_STANDBY: its standby episode @seq ended, e.g. a block handed
 * it a P); -EBUSY: it has a grant already (also a %SACT_GRANT_STANDBY one
 * it has not taken yet: a second would strand the first P), or the P is
 * held by another M (or changed under us: retry).
 */
struct sact_grant {
	__u32 size;
	__u32 flags;
	__u32 worker;
	__u32 proc;
	__u32 seq;
	__u32 __reserved;
};

#define SACT_GRANT_SIZE_VER0	16	/* the first published size */

/**
 * struct sact_counters - reply of %SACT_IOC_COUNTERS (all monotonic but
 * the last two)
 * @size:	in: sizeof(struct sact_counters)
 * @flags:	in: must be 0
 * @blocks:	block episodes (a worker running G code blocked)
 * @unblocks:	their ends
 * @upcalls:	standbys woken with a P
 * @handoffs:	Ps taken from blocked workers (to a standby or to FREE)
 * @strict_parks: unblocked workers parked by strict mode
 * @ring_overflows: 0 (ABI 1: events the ring dropped)
 * @reclaims:	strict unblocks that took a FREE P without parking
 * @grants:	successful %SACT_IOC_GRANT
 * @workers:	registered workers now
 * @standbys:	workers parked in %SACT_IOC_STANDBY now
 */
struct sact_counters {
	__u32 size;
	__u32 flags;
	__u64 blocks;
	__u64 unblocks;
	__u64 upcalls;
	__u64 handoffs;
	__u64 strict_parks;
	__u64 ring_overflows;
	__u64 reclaims;
	__u64 grants;
	__u64 workers;
	__u64 standbys;
};

#define SACT_IOC_VERSION	_IOWR(SACT_IOC_MAGIC, 0x00, struct sact_version)
#define SACT_IOC_CONFIG		_IOWR(SACT_IOC_MAGIC, 0x01, struct sact_group_config)
#define SACT_IOC_REGISTER	_IOW(SACT_IOC_MAGIC, 0x02, struct sact_worker_args)
#define SACT_IOC_UNREGISTER	_IOW(SACT_IOC_MAGIC, 0x03, struct sact_worker_args)
#define SACT_IOC_STANDBY	_IOWR(SACT_IOC_MAGIC, 0x04, struct sact_standby)
#define SACT_IOC_GRANT		_IOW(SACT_IOC_MAGIC, 0x05, struct sact_grant)
#define SACT_IOC_COUNTERS	_IOWR(SACT_IOC_MAGIC, 0x06, struct sact_counters)

#endif /* _UAPI_LINUX_SACT_H */
