/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sact.h - the ABI between the sact.ko module (/dev/sact) and its users.
 *
 * Every ioctl argument begins with a __u32 size (the caller's sizeof), so
 * the ABI can grow: the module accepts sizes from the first published size
 * up to its own, treats missing tail fields as zero, and rejects a larger
 * struct whose unknown tail is not zero (-E2BIG).  Reserved fields and
 * unknown flags must be zero (-EINVAL).
 */
#ifndef _UAPI_LINUX_SACT_H
#define _UAPI_LINUX_SACT_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define SACT_DEVICE		"/dev/sact"
#define SACT_IOC_MAGIC		0xb7

/* Bumped on every incompatible change; compatible growth keeps it. */
#define SACT_ABI_VERSION	1

/**
 * struct sact_version - reply of %SACT_IOC_VERSION
 * @size:	in: sizeof(struct sact_version) as the caller knows it
 * @abi:	out: %SACT_ABI_VERSION of the running module
 */
struct sact_version {
	__u32 size;
	__u32 abi;
};

#define SACT_IOC_VERSION	_IOWR(SACT_IOC_MAGIC, 0x00, struct sact_version)

#endif /* _UAPI_LINUX_SACT_H */
