/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpf_test.h - helpers for the bpf backend's selftests: plain pthreads stand
 * in for Ms, so the mechanism is tested without the scheduler.
 */
#ifndef SACT_BPF_TEST_H
#define SACT_BPF_TEST_H

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../userspace/lib/bpf_backend.h"
#include "sact_test.h"

/*
 * Open the backend, or skip the test when it cannot be (not root, no BPF).
 * Inside the VM (st_in_vm()) that is a failure: the guest runs as root on
 * a kernel with BTF, so there a skip would hide a bug.
 */
#define sact_bpf_open_or_skip(_metadata, nprocs_, wake_, bp)			\
	do {									\
		struct sact_bpf_opts o_ = { .size = sizeof(o_),			\
			.nprocs = (nprocs_), .wake = (wake_) };			\
		char why_[256] = "";						\
		int err_ = sact_bpf_open(&o_, (bp), why_, sizeof(why_));	\
		if ((err_ == -EPERM || err_ == -EOPNOTSUPP) && !st_in_vm())	\
			SKIP(return, "%s", why_);				\
		ASSERT_EQ(0, err_) TH_LOG("sact_bpf_open: %d: %s", err_, why_);\
	} while (0)

static inline long t_futex(uint32_t *w, int op, uint32_t val,
			   const struct timespec *ts)
{
	return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

static inline uint64_t t_load64(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint32_t t_load32(const __u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline uint64_t t_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * Wait (yielding) until cond holds; fail the test after a very generous
 * bound: the condition is certain to come, the bound only stops a hang.
 */
#define t_wait_until(_metadata, cond, what)					\
	do {									\
		uint64_t end_ = t_now_ns() + 60ull * 1000000000ull;		\
		while (!(cond)) {						\
			ASSERT_LT(t_now_ns(), end_) TH_LOG("waiting for %s", what);\
			sched_yield();						\
		}								\
	} while (0)

#endif /* SACT_BPF_TEST_H */
