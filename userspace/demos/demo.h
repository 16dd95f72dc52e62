/* SPDX-License-Identifier: GPL-2.0 */
/*
 * demo.h - what the demos share: a clock, the OS thread count, the module's
 * counters of this process's group, and the conventions of their output.
 *
 * Every demo takes --short: a small workload for CI, after which the demo
 * checks its own output against the counters and prints one line per
 * check, "check: ok - WHAT" or "check: FAIL - WHAT", then exits 0 if all
 * passed, 1 if one failed, 4 (kselftest's skip) if something it needs is
 * missing (the line before says what).  Lines that begin with "# raw "
 * carry the figures the verdict was made from, for selftests/demos.
 *
 * The module's counters are read with SACT_IOC_COUNTERS on the group the
 * runtime opened: its file descriptor is found in /proc/self/fd (the
 * runtime keeps it private), so no root and no debugfs are needed.
 */
#ifndef SACT_DEMO_H
#define SACT_DEMO_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <sact.h>

#include <linux/sact.h>

#define DEMO_SKIP	4	/* exit status: kselftest's KSFT_SKIP */

static inline int64_t demo_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The OS threads of this process now (entries of /proc/self/task). */
static inline int demo_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The descriptor of the runtime's /dev/sact group, or -1 (not kmod). */
static inline int demo_group_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char target[64];
	int fd = -1;

	if (!d)
		return -1;
	while (fd < 0 && (e = readdir(d))) {
		ssize_t n = readlinkat(dirfd(d), e->d_name, target,
				       sizeof(target) - 1);

		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strcmp(target, SACT_DEVICE))
			fd = atoi(e->d_name);
	}
	closedir(d);
	return fd;
}

/*
 * The module's counters of this process's group (during a kmod run).
 * 0, or -ENODEV when there is no group, or the ioctl's -errno.
 */
static inline int demo_kcounters(struct sact_counters *c)
{
	int fd = demo_group_fd();

	if (fd < 0)
		return -ENODEV;
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	return ioctl(fd, SACT_IOC_COUNTERS, c) ? -errno : 0;
}

/* The backend named s ("kmod", ...), or -1. */
static inline int demo_backend_of(const char *s)
{
	for (int b = SACT_BACKEND_AUTO; b <= SACT_BACKEND_NONE; b++)
		if (!strcmp(s, sact_backend_name((enum sact_backend)b)))
			return b;
	return -1;
}

/* Checks of --short: one line each; demo_checks_failed counts the FAILs. */
static int demo_checks_failed;

static inline __attribute__((format(printf, 2, 3)))
void demo_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("check: %s - ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		demo_checks_failed++;
}

/* The exit status of a --short run. */
static inline int demo_status(void)
{
	return demo_checks_failed ? 1 : 0;
}

/* A run config: nprocs Ps, standby extra Ms, backend b. */
static inline struct sact_config demo_config(int nprocs, int standby,
					     enum sact_backend b)
{
	struct sact_config c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.nprocs = nprocs;
	c.standby = standby;
	c.backend = b;
	return c;
}

/*
 * A thread that calls show(seconds since start) once a second until
 * demo_ticker_stop(), and once more then: the live lines of a demo.
 */
struct demo_ticker {
	pthread_t th;
	_Atomic int stop;
	int64_t t0;
	void (*show)(double t);
};

static inline void *demo_ticker_main(void *arg)
{
	struct demo_ticker *tk = arg;
	int64_t next = tk->t0 + 1000000000;

	while (!atomic_load(&tk->stop)) {
		usleep(20000);
		if (demo_now_ns() >= next) {
			tk->show((next - tk->t0) / 1e9);
			next += 1000000000;
		}
	}
	return NULL;
}

static inline int demo_ticker_start(struct demo_ticker *tk,
				    void (*show)(double t))
{
	tk->t0 = demo_now_ns();
	tk->show = show;
	atomic_store(&tk->stop, 0);
	return -pthread_create(&tk->th, NULL, demo_ticker_main, tk);
}

static inline void demo_ticker_stop(struct demo_ticker *tk)
{
	atomic_store(&tk->stop, 1);
	pthread_join(tk->th, NULL);
	tk->show((demo_now_ns() - tk->t0) / 1e9);
}

/*
 * The options of the one-backend demos, before any other argument:
 * --short and --backend NAME (*b stays as it was without it).  Returns
 * the index of the first other argument (argc if none), or -1 after a
 * usage message (usage: the other arguments, for it).
 */
static inline int demo_options(int argc, char **argv, const char *usage,
			       bool *short_mode, enum sact_backend *b)
{
	int i, v;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--short")) {
			*short_mode = true;
		} else if (!strcmp(argv[i], "--backend") && i + 1 < argc &&
			   (v = demo_backend_of(argv[i + 1])) >= 0) {
			*b = (enum sact_backend)v;
			i++;
		} else {
			fprintf(stderr, "usage: %s [--short] [--backend "
				"auto|kmod|bpf|sysmon|none]%s\n", argv[0],
				usage);
			return -1;
		}
	}
	return i;
}

#endif /* SACT_DEMO_H */
