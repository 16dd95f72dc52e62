// SPDX-License-Identifier: GPL-2.0
/*
 * resolve.c - the libc workload: N requests at once, each a blocking libc
 * call no runtime wrapper sees, on Gs or on a thread each; go/resolve.go
 * is the Go peer.
 *
 *	build/bench/resolve [-m sact|pthread] [-w gai|sleep] [-n N]
 *			    [-b BACKEND] [-p NPROCS]
 *
 *   -w gai    getaddrinfo("hI.sact.test", AF_INET): glibc's stub resolver
 *             (a socket, a UDP query, poll for the answer); meant to run
 *             under userspace/bench/dns-ns, whose server answers after
 *             100 ms with 127.0.0.2 (an answer that is not counts as
 *             failed)
 *   -w sleep  usleep(100 ms)
 *   -m sact   one G per request (sact_run, nprocs -p, backend -b): the
 *             call blocks its M, and the backend may hand the P on
 *   -m pthread  one pthread per request
 * Defaults: -m sact -w gai -n 100 -b sysmon -p 2.  Prints one line:
 *   libc n=N wall_ms=.. threads=.. vsz_kib=.. rss_kib=.. failed=..
 * wall_ms: from the first request started to the last one done; threads:
 * the peak of the process's threads (sampled every ms); vsz/rss: the
 * peaks (VmPeak, VmHWM), since the threads of -m pthread are gone at the
 * end.  Exit 1 if the runtime does not start.
 */
#include <netdb.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include "bench.h"

static int n = 100, work_gai = 1;
static _Atomic long failed;
static struct sact_waitgroup wg;

static void request(long i)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM }, *res;
	char name[64];

	if (!work_gai) {
		usleep(100000);
		return;
	}
	snprintf(name, sizeof(name), "h%ld.sact.test", i);
	if (getaddrinfo(name, NULL, &hints, &res)) {
		atomic_fetch_add(&failed, 1);
		return;
	}
	if (((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr !=
	    htonl(0x7f000002))
		atomic_fetch_add(&failed, 1);
	freeaddrinfo(res);
}

static void request_g(void *arg)
{
	request((long)arg);
	sact_wg_done(&wg);
}

static void *request_thread(void *arg)
{
	request((long)arg);
	return NULL;
}

static void spawner(void *arg)
{
	(void)arg;
	sact_wg_add(&wg, n);
	for (long i = 0; i < n; i++)
		if (sact_go(request_g, (void *)i))
			abort();
	sact_wg_wait(&wg);
}

/* VmPeak and VmHWM of this process, KiB. */
static void peaks(long *vsz, long *rss)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	*vsz = *rss = -1;
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "VmPeak: %ld", vsz);
		sscanf(line, "VmHWM: %ld", rss);
	}
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	struct sact_config c = { .size = sizeof(c), .nprocs = 2,
				 .standby = -1, .backend = SACT_BACKEND_SYSMON };
	bool pthreads = false;
	struct tsampler ts;
	int64_t t0, t1;
	long vsz, rss;
	int opt, err = 0, v;

	while ((opt = getopt(argc, argv, "m:w:n:b:p:")) != -1) {
		switch (opt) {
		case 'm':
			if (strcmp(optarg, "sact") && strcmp(optarg, "pthread"))
				goto usage;
			pthreads = !strcmp(optarg, "pthread");
			break;
		case 'w':
			if (strcmp(optarg, "gai") && strcmp(optarg, "sleep"))
				goto usage;
			work_gai = !strcmp(optarg, "gai");
			break;
		case 'n': n = atoi(optarg); break;
		case 'p': c.nprocs = atoi(optarg); break;
		case 'b':
			if ((v = backend_of(optarg)) < 0)
				goto usage;
			c.backend = v;
			break;
		default:
			goto usage;
		}
	}
	if (n < 1)
		goto usage;
	want_files((rlim_t)n * 2 + 64);	/* a UDP socket per lookup */
	tsampler_start(&ts, 0);
	t0 = now_ns();
	if (pthreads) {
		pthread_t *t = calloc((size_t)n, sizeof(*t));

		for (long i = 0; i < n; i++)
			if (pthread_create(&t[i], NULL, request_thread,
					   (void *)i))
				abort();
		for (long i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		free(t);
	} else {
		err = sact_run(&c, spawner, NULL);
	}
	t1 = now_ns();
	if (err) {
		tsampler_stop(&ts);
		return bench_run_failed("resolve", c.backend, err);
	}
	peaks(&vsz, &rss);
	printf("libc n=%d wall_ms=%.1f threads=%d vsz_kib=%ld rss_kib=%ld "
	       "failed=%ld\n", n, (t1 - t0) / 1e6, tsampler_stop(&ts), vsz,
	       rss, atomic_load(&failed));
	return 0;
usage:
	fprintf(stderr, "usage: see the top of userspace/bench/resolve.c\n");
	return 2;
}
