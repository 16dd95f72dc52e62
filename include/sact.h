/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sact.h - the public API of libsact, an M:N (Go-style P/M/G) runtime that
 * hands a processor (P) to a parked thread the moment a worker blocks in the
 * kernel.
 *
 * Vocabulary (Go's): a G is a user-level thread, an M an OS thread, a P the
 * right to run Gs (nprocs of them). See HACKING.md for the design.
 *
 * Errors are returned as -errno, never through errno.
 */
#ifndef SACT_H
#define SACT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Running the runtime
 * ------------------------------------------------------------------------ */

/*
 * How a P leaves an M that blocked in the kernel.
 * AUTO: kmod if /dev/sact opens (and accepts the group's config), else bpf
 * if its program loads (root, a kernel with BTF), else sysmon.
 * sact_backend() says which one the last run used.
 */
enum sact_backend {
	SACT_BACKEND_AUTO,
	SACT_BACKEND_KMOD,	/* the sact.ko module: block upcalls, strict mode */
	SACT_BACKEND_BPF,	/* a sched_switch BPF program (needs root) */
	SACT_BACKEND_SYSMON,	/* Go's polling monitor thread (20 us tick) */
	SACT_BACKEND_NONE,	/* no handoff: a blocked M keeps its P */
};

struct sact_config {
	size_t size;		/* sizeof(struct sact_config) */
	int nprocs;		/* 0: number of online CPUs */
	int standby;		/* parked Ms kept for handoff; <0: default */
	enum sact_backend backend;
	size_t stack_size;	/* 0: default */
	unsigned int flags;	/* SACT_CONFIG_*; 0: the defaults */
	int max_threads;	/* cap on Ms; 0: SACT_MAX_THREADS or 10000 */
	int thread_idle_ms;	/* an M beyond nprocs + standby idle this
				 * long exits; 0: SACT_THREAD_IDLE_MS or
				 * 1000; < 0: never */
	int thread_stack_kb;	/* the runtime's threads' own stacks, KiB
				 * (G code runs on G stacks); 0:
				 * SACT_THREAD_STACK_KB or 256 */
	int stack_cache;	/* dead Gs' stacks kept resident for the
				 * next spawns, beyond 64 per P; the rest go
				 * back to the kernel when a thread idles; 0:
				 * SACT_STACK_CACHE or 1024; < 0: keep all */
};

/*
 * sact_config.flags.  The struct is size-versioned: a caller built before
 * flags existed passes the smaller size and gets flags = 0.
 *
 * SACT_CONFIG_NO_STRICT (kmod only; the other backends are never strict):
 * an M whose P was handed off while it was blocked returns from the kernel
 * at once and goes on running its G; it waits for a P only when the G next
 * enters the runtime (a wrapped call's return, a spawn, a channel, a lock,
 * a yield, its exit).  Strict (the default) makes it wait in the kernel
 * before it returns to user space.  Strict guarantees that at most nprocs
 * Ms run G code at any instant, even across blocks no wrapper sees (libc
 * calls, page faults); non-strict bounds it only at runtime entries, but
 * the returning G finishes its user code without waiting for a P.  Either
 * way no G is lost or run twice.
 */
#define SACT_CONFIG_NO_STRICT	0x1U
/*
 * SACT_CONFIG_MALLOC_ARENAS: leave glibc's number of malloc arenas alone.
 * By default sact_run limits it to nprocs (mallopt M_ARENA_MAX; not when
 * MALLOC_ARENA_MAX or the glibc.malloc.arena_max tunable is set): each
 * thread that mallocs would otherwise map a 64 MiB arena, up to 8 per
 * core, and Ms blocked in the kernel are threads.  The limit is
 * process-wide and stays after the run; plain threads of the program then
 * share those arenas too.
 */
#define SACT_CONFIG_MALLOC_ARENAS 0x2U

/*
 * Run fn(arg) as the first G; return when it and every G it spawned exit.
 * 0 or -errno (e.g. -ENODEV when the requested backend is unavailable).
 * cfg may be NULL (defaults).  AUTO tries kmod, then bpf, then sysmon.  An
 * explicitly requested backend that cannot start fails the run: KMOD gives
 * -ENODEV without /dev/sact (another -errno if the module refuses us, or
 * -E2BIG beyond 64 Ps); BPF gives -EPERM without privilege (root,
 * or CAP_BPF + CAP_PERFMON), -EOPNOTSUPP on a kernel without BTF, -E2BIG
 * beyond 64 Ps, or libbpf's -errno.  bpf has no strict mode (see
 * sact_run(3) for how it stops an M that came back without its P).
 * Threads: nprocs + standby Ms and a template thread (+ sysmon's monitor);
 * the template makes more Ms, off the handoff path, while Gs block in the
 * kernel, up to max_threads; the surplus exits after thread_idle_ms idle.
 * A G stack overflow aborts with "sact: G stack overflow ...".  With
 * SACT_DEBUG=1 in the environment a one-line reason goes to stderr (and
 * for each backend AUTO skips); otherwise the runtime prints nothing.
 * kmod runs in strict mode (an M back from a block waits in the kernel
 * until the runtime grants it a P) unless flags has SACT_CONFIG_NO_STRICT;
 * it installs a handler for
 * SIGRTMAX-3 for the run (it wakes the Ms parked in the module at exit):
 * do not use that signal.  -EINVAL for unknown flags.
 * -EBUSY if a run is already in progress,
 * -EINVAL for a bad config, -ENOMEM, -EAGAIN (no threads).  May be called
 * again after it returned.  Defaults: standby = nprocs, stack_size = 64 KiB
 * (including ~200 bytes of bookkeeping; a 64 KiB guard region below it),
 * max_threads = 10000, thread_idle_ms = 1000.  The
 * environment variable SACT_SHUFFLE=1 randomizes scheduling order (debug).
 * When every G is parked and nothing can wake one (no timer, no syscall in
 * progress, no thread made since sact_run began that is not the runtime's:
 * such a plain thread may still call sact_sem_release & co.), the runtime
 * aborts: "sact: all Gs are asleep - deadlock".
 */
int sact_run(const struct sact_config *cfg, void (*fn)(void *), void *arg);

/*
 * Spawn a G running fn(arg); it runs when a P picks it (soon: it is put
 * next in line on the caller's P).  A G whose fn returns exits.
 * 0; -EPERM when not called from a G of a running sact_run; -ENOMEM.
 */
int sact_go(void (*fn)(void *), void *arg);

/* Put the calling G at the back of the run queue and run another. */
void sact_yield(void);

/*
 * Wire the calling G to its thread (Go's LockOSThread): until as many
 * sact_unlock_thread calls, it runs only on this thread, and the thread
 * runs only it (while it waits, the thread sleeps and its P runs other
 * Gs).  For thread-local state: an unwired G may resume on another thread
 * after any runtime call.  A G that exits wired is unwired.
 * 0; -EPERM outside a G; -EOVERFLOW past INT_MAX nested calls.
 */
int sact_lock_thread(void);

/* Undo one sact_lock_thread of the calling G (none: nothing). */
void sact_unlock_thread(void);

/* Park the calling G (not its M) for at least ns nanoseconds. */
void sact_sleep_ns(uint64_t ns);

/*
 * Like syscall(2), but P-aware: the P may run other Gs while this one is in
 * the kernel. Returns the raw kernel result: a negative value is -errno.
 */
long sact_syscall(long nr, ...);

/* The backend in use (inside sact_run), or the last one used. */
enum sact_backend sact_backend(void);

/* "auto", "kmod", "bpf", "sysmon", "none"; NULL for an unknown value. */
const char *sact_backend_name(enum sact_backend b);

/* ------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------ */

struct sact_stats {
	size_t size;		/* in: sizeof(struct sact_stats) the caller has */
	enum sact_backend backend;
	int nprocs;		/* Ps */
	int nms;		/* Ms alive (at the end, for the last run) */
	uint64_t gs_spawned;	/* Gs created, the first included */
	uint64_t gs_peak;	/* most Gs alive at once */
	uint64_t switches;	/* context switches */
	uint64_t steals;	/* successful steals from another P */
	uint64_t parks;		/* Gs parked (sync, sleep) */
	uint64_t syscalls;	/* sact_syscall calls made on a G */
	uint64_t handoffs;	/* Ps taken from Ms blocked in the kernel */
	uint64_t handoff_waits;	/* ... that found no standby M and waited */
	uint64_t threads_created; /* OS threads created by the run */
	uint64_t threads_peak;	/* most runtime threads alive at once */
	uint64_t ms_created;	/* Ms (worker threads) created, the first
				 * nprocs + standby included */
	uint64_t ms_retired;	/* Ms that exited after thread_idle_ms */
	uint64_t ms_peak;	/* most Ms alive at once */
	uint64_t thread_stack_used; /* bytes: the deepest any runtime thread
				 * (M, template, monitor) went into its own
				 * stack, as it exited; 0 unless
				 * SACT_STACK_CHECK=1 */
	uint64_t stacks_returned; /* dead Gs' stacks given back to the
				 * kernel (beyond sact_config.stack_cache) */
	uint64_t wakeups;	/* idle Ms woken to look for work (wakep) */
	uint64_t idle_spins;	/* Ms that looked for work (spinning),
				 * found none and gave their P up */
	uint64_t ring_submits;	/* io_uring_enter calls that submitted
				 * ring calls' SQEs (a batch each) */
	uint64_t ring_ops;	/* ring calls' operations submitted */
};

/*
 * Fill *st (up to st->size bytes; set size first) with the statistics of
 * the run in progress (from any thread), else of the last run.  0 or
 * -EINVAL.  Counters read during a run are approximate.
 */
int sact_stats(struct sact_stats *st);

/* ------------------------------------------------------------------------
 * Synchronization between Gs
 *
 * All of these park the calling G, never its M, and must be called from a
 * G.  Objects are zero-initialized (or by the *_INIT macros) and need no
 * destruction.  Timeouts are relative, in nanoseconds.  The fields are
 * private.
 * ------------------------------------------------------------------------ */

struct sact_waitq_ {
	void *head_, *tail_;
};

struct sact_mutex {
	uint32_t state_;
	uint32_t lock_;
	struct sact_waitq_ q_;
};
#define SACT_MUTEX_INIT { 0, 0, { 0, 0 } }

/* Lock.  Go's sync.Mutex: a woken waiter competes with the running Gs,
 * and one passed four times (or waiting 1 ms) is handed the mutex. */
void sact_mutex_lock(struct sact_mutex *mu);
/* 0, or -EBUSY if it is held. */
int sact_mutex_trylock(struct sact_mutex *mu);
/* 0, or -ETIMEDOUT after timeout_ns without the lock; -ENOMEM. */
int sact_mutex_timedlock(struct sact_mutex *mu, uint64_t timeout_ns);
/* Unlock; the caller must hold it. */
void sact_mutex_unlock(struct sact_mutex *mu);

struct sact_cond {
	uint32_t lock_;
	uint32_t pad_;
	struct sact_waitq_ q_;
};
#define SACT_COND_INIT { 0, 0, { 0, 0 } }

/* Atomically unlock mu and wait for a signal; mu is held again on return. */
void sact_cond_wait(struct sact_cond *c, struct sact_mutex *mu);
/* Same, 0 or -ETIMEDOUT (mu held again either way); -ENOMEM. */
int sact_cond_timedwait(struct sact_cond *c, struct sact_mutex *mu,
			uint64_t timeout_ns);
/* Wake one waiter (the oldest), or all. */
void sact_cond_signal(struct sact_cond *c);
void sact_cond_broadcast(struct sact_cond *c);

struct sact_waitgroup {
	int64_t count_;
	uint32_t lock_;
	uint32_t pad_;
	struct sact_waitq_ q_;
};
#define SACT_WAITGROUP_INIT { 0, 0, 0, { 0, 0 } }

/* Add delta (may be negative) to the counter; at 0 every waiter wakes.
 * A negative counter is a bug: the runtime aborts. */
void sact_wg_add(struct sact_waitgroup *wg, int64_t delta);
/* sact_wg_add(wg, -1). */
void sact_wg_done(struct sact_waitgroup *wg);
/* Wait until the counter is 0. */
void sact_wg_wait(struct sact_waitgroup *wg);

struct sact_sem {
	int64_t count_;
	uint32_t lock_;
	uint32_t pad_;
	struct sact_waitq_ q_;
};
#define SACT_SEM_INIT(n) { (n), 0, 0, { 0, 0 } }

/* Take a unit, waiting for one (FIFO). */
void sact_sem_acquire(struct sact_sem *s);
/* 0, or -EAGAIN if there is none. */
int sact_sem_tryacquire(struct sact_sem *s);
/* 0, or -ETIMEDOUT; -ENOMEM. */
int sact_sem_timedacquire(struct sact_sem *s, uint64_t timeout_ns);
/* Give a unit back (to the oldest waiter, if any). */
void sact_sem_release(struct sact_sem *s);

/* ------------------------------------------------------------------------
 * Channels (Go's): elements are copied in and out by value.  cap 0 is an
 * unbuffered channel (a send waits for its receiver).
 * ------------------------------------------------------------------------ */

struct sact_chan;

/* A channel of elem_size-byte elements holding up to cap; NULL: no memory
 * (or elem_size 0).  May be created outside a run. */
struct sact_chan *sact_chan_new(size_t elem_size, size_t cap);
/* Free it; no G may be using it. */
void sact_chan_free(struct sact_chan *c);
/* Send *elem.  0, or -EPIPE if the channel is (or gets) closed. */
int sact_chan_send(struct sact_chan *c, const void *elem);
/* Receive into *elem.  0, or -EPIPE once it is closed and drained
 * (*elem zeroed). */
int sact_chan_recv(struct sact_chan *c, void *elem);
/* Non-blocking forms: -EAGAIN instead of waiting. */
int sact_chan_trysend(struct sact_chan *c, const void *elem);
int sact_chan_tryrecv(struct sact_chan *c, void *elem);
/* Timed forms: -ETIMEDOUT after timeout_ns; -ENOMEM. */
int sact_chan_send_timeout(struct sact_chan *c, const void *elem,
			   uint64_t timeout_ns);
int sact_chan_recv_timeout(struct sact_chan *c, void *elem,
			   uint64_t timeout_ns);
/* Close: receivers drain what is buffered then get -EPIPE; blocked senders
 * get -EPIPE.  0, or -EPIPE if already closed. */
int sact_chan_close(struct sact_chan *c);
/* Elements buffered now (a hint). */
size_t sact_chan_len(struct sact_chan *c);

#define SACT_SEL_SEND	1
#define SACT_SEL_RECV	2
#define SACT_FOREVER	UINT64_MAX

/* One case of sact_chan_select. */
struct sact_sel {
	struct sact_chan *chan;
	int op;			/* SACT_SEL_SEND or SACT_SEL_RECV */
	void *elem;		/* send: the value; recv: where it goes */
	int err;		/* out, for the chosen case: 0 or -EPIPE */
};

/*
 * Go's select over n (1..64) cases: do one case that can proceed (ready
 * ones are taken fairly) and return its index; its err is 0, or -EPIPE for
 * a closed channel.  None ready: wait up to timeout_ns (SACT_FOREVER: no
 * limit; 0: don't wait, -EAGAIN), then -ETIMEDOUT.  -EINVAL, -ENOMEM.
 */
int sact_chan_select(struct sact_sel *cases, int n, uint64_t timeout_ns);

/* ------------------------------------------------------------------------
 * System calls
 *
 * Each runs the call between entersyscall and exitsyscall: while it is in
 * the kernel, the backend may hand the G's P to another M, so the other
 * Gs keep running; afterwards the G continues on some M with some P.  The
 * raw kernel result is returned: >= 0, or -errno (errno is not set).
 * Called outside a G, they are plain system calls.
 * ------------------------------------------------------------------------ */

ssize_t sact_read(int fd, void *buf, size_t count);
ssize_t sact_write(int fd, const void *buf, size_t count);
ssize_t sact_pread(int fd, void *buf, size_t count, off_t offset);
ssize_t sact_pwrite(int fd, const void *buf, size_t count, off_t offset);
int sact_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int sact_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
ssize_t sact_recv(int fd, void *buf, size_t len, int flags);
ssize_t sact_send(int fd, const void *buf, size_t len, int flags);
int sact_fsync(int fd);
/* Blocks the M in the kernel (unlike sact_sleep_ns, which parks the G). */
int sact_nanosleep(const struct timespec *req, struct timespec *rem);
/* FUTEX_WAIT (shared) on *uaddr while it equals val; timeout may be NULL. */
int sact_futex_wait(uint32_t *uaddr, uint32_t val,
		    const struct timespec *timeout);

/* ------------------------------------------------------------------------
 * I/O on io_uring
 *
 * sact_ring_X is sact_X (above) done on the io_uring of the G's P: the
 * call puts one request on the ring, parks the G (the M runs other Gs,
 * it never blocks), and returns the completion's result: >= 0, or
 * -errno.  Same arguments and results as the blocking wrapper, so the two
 * swap by name; readv/writev take an offset (-1: the file position).
 * Only on a G: elsewhere -EPERM.  Where io_uring cannot be set up
 * (io_uring_setup fails: old kernel, seccomp, io_uring_disabled), each
 * returns that error (e.g. -ENOSYS, -EPERM) and the blocking wrappers
 * still work.  The G may resume on another P than the one it submitted
 * on.  Buffers must stay valid until the call returns (they do: the G
 * waits).
 * ------------------------------------------------------------------------ */

struct iovec;

/* 0 if ring calls work here (in a run: this run's rings), else -errno. */
int sact_ring_available(void);
/*
 * Limit the calling G's next ring call to ns nanoseconds (a linked
 * timeout): if it has not completed by then it is cancelled and returns
 * -ECANCELED (or its result, if it completed first).  One call only.
 */
void sact_ring_settimeout(uint64_t ns);
/* Park the G on a ring timeout: -ETIME after ns. */
int sact_ring_timeout(uint64_t ns);
/*
 * Cancel every ring call in flight on fd, whichever P's ring it is on:
 * each returns -ECANCELED (or its result, if it completed first).  The
 * number of requests cancelled, or -errno (-EINVAL before Linux 6.0).
 */
int sact_ring_cancel_fd(int fd);

ssize_t sact_ring_read(int fd, void *buf, size_t count);
ssize_t sact_ring_write(int fd, const void *buf, size_t count);
ssize_t sact_ring_pread(int fd, void *buf, size_t count, off_t offset);
ssize_t sact_ring_pwrite(int fd, const void *buf, size_t count,
			 off_t offset);
ssize_t sact_ring_readv(int fd, const struct iovec *iov, int iovcnt,
			off_t offset);
ssize_t sact_ring_writev(int fd, const struct iovec *iov, int iovcnt,
			 off_t offset);
int sact_ring_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
int sact_ring_connect(int fd, const struct sockaddr *addr,
		      socklen_t addrlen);
ssize_t sact_ring_recv(int fd, void *buf, size_t len, int flags);
ssize_t sact_ring_send(int fd, const void *buf, size_t len, int flags);
int sact_ring_openat(int dirfd, const char *path, int flags, mode_t mode);
int sact_ring_close(int fd);
int sact_ring_fsync(int fd);

#ifdef __cplusplus
}
#endif

#endif /* SACT_H */
