// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * syscall.c - entersyscall/exitsyscall and the P-aware syscall wrappers.
 *
 * entersyscall marks the M's P P_SYSCALL (a store-release, no locked
 * instruction: the P stays with the M unless someone takes it).  While the M
 * is in the kernel, a backend may take the P by CAS P_SYSCALL -> P_IDLE and
 * hand it to a standby M (handoffp): sysmon after one 20 us tick, kmod/bpf
 * at the moment the M blocks.  exitsyscall tries to CAS its P back
 * P_SYSCALL -> P_RUNNING (one locked instruction: the whole fast-path
 * cost).  Losing means the P was taken: take any idle P (exitsyscall_slow),
 * or else put the G on the global queue and park the M as a standby.
 *
 * Whoever wins the CAS on a P_SYSCALL P owns it.  That also covers the ABA
 * case (the P was handed off, and its new M is itself in a syscall when the
 * old M returns): the old M may take it, and the new M will lose its own CAS
 * and take the slow path.  No M touches a P it does not own, so that is a
 * legal transfer of the token.
 *
 * Rejected: making the M say "I am blocking" only when the call would block
 * (impossible to know before the call without the kernel: that is what the
 * kmod and bpf backends are for); a global count of Ms in syscalls (a
 * contended locked instruction on every call).
 */
#include <stdarg.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "internal.h"

static inline long raw_syscall6(long n, long a, long b, long c, long d,
				long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The G gp (running on its M with a P) is about to enter the kernel. */
static inline void entersyscall(struct g *gp)
{
	struct m *m = gp->m;
	struct p *pp = m->p;

	st(&gp->status, G_SYSCALL);
	stat_inc(&m->st.syscalls);
	st(&pp->syscalltick, ld(&pp->syscalltick) + 1);
	m->oldp = pp;
	st_rel(&pp->status, P_SYSCALL);
	if (sched.ops->enter_syscall)
		sched.ops->enter_syscall(m, pp);
}

/*
 * gp lost its P while in the kernel: find another or queue gp and make the
 * M a standby.  Returns on an M with a P (maybe another one).
 */
static __attribute__((noinline)) void exitsyscall_slow(struct g *gp)
{
	struct m *m = gp->m;
	struct p *pp;

	m->p = NULL;
	m->oldp = NULL;
	lock_acquire(&sched.lock);
	pp = pidleget();
	lock_release(&sched.lock);
	if (pp) {
		acquirep(m, pp);
		st(&gp->status, G_RUNNING);
		return;
	}
	/* to g0, which queues gp once off its stack and parks (proc.c) */
	st(&gp->status, G_RUNNABLE);
	m->after = AFTER_GLOBRUNQ;
	m->after_g = gp;
	sact_switch_to_g0(m, gp);
}

static inline void exitsyscall(struct g *gp)
{
	struct m *m = gp->m;
	struct p *pp;
	int s = P_SYSCALL;

	/* kmod: the hook may replace m->oldp by the P granted to m */
	if (sched.ops->exit_syscall)
		sched.ops->exit_syscall(m, m->oldp);
	pp = m->oldp;
	if (likely(atomic_compare_exchange_strong_explicit(
		    &pp->status, &s, P_RUNNING, ACQUIRE, RELAXED))) {
		m->p = pp;
		pp->m = m;
		m->oldp = NULL;
		st(&gp->status, G_RUNNING);
	} else {
		exitsyscall_slow(gp);
	}
	/* back to G code with a P (in_g stays set after a wrapped call) */
	p_handoff_release(gp->m->p);
}

static inline long syscall6(long n, long a, long b, long c, long d, long e,
			    long f)
{
	struct m *m = getm();
	struct g *gp;
	long ret;

	if (!m || m->curg == &m->g0)
		return raw_syscall6(n, a, b, c, d, e, f);
	gp = m->curg;
	entersyscall(gp);
	ret = raw_syscall6(n, a, b, c, d, e, f);
	exitsyscall(gp);
	if (unlikely(sched_watch_gcode))
		m_back_to_g(gp->m);	/* sysmon: G code again */
	return ret;
}

SACT_API long sact_syscall(long nr, ...)
{
	long a, b, c, d, e, f;
	va_list ap;

	va_start(ap, nr);
	a = va_arg(ap, long);
	b = va_arg(ap, long);
	c = va_arg(ap, long);
	d = va_arg(ap, long);
	e = va_arg(ap, long);
	f = va_arg(ap, long);
	va_end(ap);
	return syscall6(nr, a, b, c, d, e, f);
}

#define L(x)	((long)(x))

SACT_API ssize_t sact_read(int fd, void *buf, size_t count)
{
	return syscall6(SYS_read, fd, L(buf), L(count), 0, 0, 0);
}

SACT_API ssize_t sact_write(int fd, const void *buf, size_t count)
{
	return syscall6(SYS_write, fd, L(buf), L(count), 0, 0, 0);
}

SACT_API ssize_t sact_pread(int fd, void *buf, size_t count, off_t offset)
{
	return syscall6(SYS_pread64, fd, L(buf), L(count), L(offset), 0, 0);
}

SACT_API ssize_t sact_pwrite(int fd, const void *buf, size_t count,
			     off_t offset)
{
	return syscall6(SYS_pwrite64, fd, L(buf), L(count), L(offset), 0, 0);
}

SACT_API int sact_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return syscall6(SYS_accept4, fd, L(addr), L(addrlen), SOCK_CLOEXEC, 0,
			0);
}

SACT_API int sact_connect(int fd, const struct sockaddr *addr,
			  socklen_t addrlen)
{
	return syscall6(SYS_connect, fd, L(addr), L(addrlen), 0, 0, 0);
}

SACT_API ssize_t sact_recv(int fd, void *buf, size_t len, int flags)
{
	return syscall6(SYS_recvfrom, fd, L(buf), L(len), flags, 0, 0);
}

SACT_API ssize_t sact_send(int fd, const void *buf, size_t len, int flags)
{
	return syscall6(SYS_sendto, fd, L(buf), L(len), flags, 0, 0);
}

SACT_API int sact_fsync(int fd)
{
	return syscall6(SYS_fsync, fd, 0, 0, 0, 0, 0);
}

SACT_API int sact_nanosleep(const struct timespec *req, struct timespec *rem)
{
	return syscall6(SYS_nanosleep, L(req), L(rem), 0, 0, 0, 0);
}

SACT_API int sact_futex_wait(uint32_t *uaddr, uint32_t val,
			     const struct timespec *timeout)
{
	return syscall6(SYS_futex, L(uaddr), FUTEX_WAIT, val, L(timeout), 0,
			0);
}
