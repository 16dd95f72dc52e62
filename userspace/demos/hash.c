// SPDX-License-Identifier: GPL-2.0
/*
 * hash - a file-hashing tool in plain blocking style: many files, read with
 * blocking pread(2), one FNV-1a 64-bit hash per file, printed like
 * sha256sum ("HASH  PATH").
 *
 * 16 worker Gs on 2 Ps take files from a shared counter; each opens its
 * file and reads it in 16 KiB preads - plain calls, as any C program would
 * make them.  A read that waits for the disk puts its M to sleep: under
 * kmod the module hands the P to a standby M at once, so the other Gs
 * keep hashing; under sysmon/none (which cannot see a raw pread) the P
 * waits with it.  On a warm page cache, or the VM's RAM file system,
 * nothing waits, and the counters say so: the blocks and handoffs shown
 * are the ones that really happened.
 *
 * Without FILE arguments it hashes a set it writes first (files of
 * pseudo-random sizes and content in $TMPDIR, removed afterwards).  Once
 * a second: files done, MiB read, handoffs, OS threads.  --short also
 * hashes every file again single-threaded, outside the runtime, and
 * checks the two agree.
 *
 * Run it:
 *   make demo DEMO=hash                                 in the QEMU VM
 *   sudo insmod build/kmod/sact.ko && build/demos/hash [FILE...]   real host
 *   echo 3 | sudo tee /proc/sys/vm/drop_caches    first, to make reads wait
 * Options: --short, --backend NAME (default auto: kmod if loaded).
 */
#include <sys/stat.h>

#include "demo.h"

#define NWORKERS	16
#define BUFSZ		16384

struct file {
	char *path;
	uint64_t hash;
	uint64_t size;
	int err;		/* -errno of open/pread, or 0 */
};

static struct file *files;
static int nfiles;
static _Atomic int next_file, files_done;
static _Atomic uint64_t bytes_read;
static struct sact_waitgroup wg;

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_OFFSET	0xcbf29ce484222325ULL

/* Hash one file with blocking preads; counts its bytes in *total. */
static int hash_file(struct file *f, _Atomic uint64_t *total)
{
	unsigned char buf[BUFSZ];
	uint64_t h = FNV_OFFSET;
	off_t off = 0;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);

		if (n < 0) {
			n = -errno;
			close(fd);
			return (int)n;
		}
		if (n == 0)
			break;
		h = fnv1a(h, buf, (size_t)n);
		off += n;
		if (total)
			atomic_fetch_add(total, (uint64_t)n);
	}
	close(fd);
	f->hash = h;
	f->size = (uint64_t)off;
	return 0;
}

static void worker_g(void *arg)
{
	int i;

	(void)arg;
	while ((i = atomic_fetch_add(&next_file, 1)) < nfiles) {
		files[i].err = hash_file(&files[i], &bytes_read);
		atomic_fetch_add(&files_done, 1);
	}
	sact_wg_done(&wg);
}

static struct sact_counters kc;
static bool have_kc;

static void first_g(void *arg)
{
	(void)arg;
	sact_wg_add(&wg, NWORKERS);
	for (int i = 0; i < NWORKERS; i++)
		sact_go(worker_g, NULL);
	sact_wg_wait(&wg);
	have_kc = demo_kcounters(&kc) == 0;
}

static void show(double t)
{
	struct sact_stats st = { .size = sizeof(st) };

	sact_stats(&st);
	printf("  %5.1f s  files %4d/%d  %7.1f MiB read  handoffs %5llu  "
	       "threads %d\n", t, atomic_load(&files_done), nfiles,
	       atomic_load(&bytes_read) / 1048576.0,
	       (unsigned long long)st.handoffs, demo_threads());
	fflush(stdout);
}

/* Write the demo's own file set into a new directory; its path. */
static char *make_files(int n, size_t maxsize)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	static char dir[4096];
	unsigned char *buf = malloc(maxsize + 1);
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	snprintf(dir, sizeof(dir), "%s/sact-hash.XXXXXX", tmp);
	if (!buf || !mkdtemp(dir))
		return NULL;
	files = calloc((size_t)n, sizeof(*files));
	for (int i = 0; files && i < n; i++) {
		size_t size;
		int fd;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size = (size_t)(x % (maxsize + 1));
		for (size_t k = 0; k < size; k++)
			buf[k] = (unsigned char)((x >> (k % 56)) + k);
		if (asprintf(&files[i].path, "%s/f%04d", dir, i) < 0)
			return NULL;
		fd = open(files[i].path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, buf, size) != (ssize_t)size)
			return NULL;
		close(fd);
	}
	free(buf);
	nfiles = n;
	return files ? dir : NULL;
}

static void remove_files(const char *dir)
{
	for (int i = 0; i < nfiles; i++)
		unlink(files[i].path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	enum sact_backend b = SACT_BACKEND_AUTO;
	struct sact_stats st = { .size = sizeof(st) };
	struct demo_ticker tk;
	struct sact_config c;
	bool short_mode = false;
	char *dir = NULL;
	int err, first, nargs, bad = 0, errs = 0;
	uint64_t total = 0;

	first = demo_options(argc, argv, " [FILE...]", &short_mode, &b);
	if (first < 0)
		return 2;
	nargs = argc - first;
	if (nargs > 0) {
		files = calloc((size_t)nargs, sizeof(*files));
		for (int i = 0; i < nargs; i++)
			files[i].path = argv[first + i];
		nfiles = nargs;
	} else {
		dir = make_files(short_mode ? 64 : 400,
				 short_mode ? 65536 : 262144);
		if (!dir) {
			perror("hash: writing the file set");
			return 1;
		}
	}
	printf("hash: %d files, %d Gs on 2 Ps reading with pread(2)%s\n",
	       nfiles, NWORKERS, dir ? " (a generated set)" : "");
	fflush(stdout);
	c = demo_config(2, 2, b);
	demo_ticker_start(&tk, show);
	err = sact_run(&c, first_g, NULL);
	demo_ticker_stop(&tk);
	if (err) {
		printf("hash: sact_run(%s): %s\n", sact_backend_name(b),
		       strerror(-err));
		if (dir)
			remove_files(dir);
		return err == -ENODEV ? DEMO_SKIP : 1;
	}
	sact_stats(&st);
	for (int i = 0; i < nfiles; i++) {
		if (files[i].err) {
			printf("hash: %s: %s\n", files[i].path,
			       strerror(-files[i].err));
			errs++;
			continue;
		}
		if (!short_mode || i < 4)
			printf("%016llx  %s\n",
			       (unsigned long long)files[i].hash,
			       files[i].path);
		total += files[i].size;
	}
	printf("verdict: %s: %d files, %llu bytes hashed by %d Gs on %d Ps; "
	       "%llu handoffs", sact_backend_name(st.backend), nfiles - errs,
	       (unsigned long long)total, NWORKERS, st.nprocs,
	       (unsigned long long)st.handoffs);
	if (have_kc)
		printf(" (module: %llu blocks, %llu handoffs)",
		       (unsigned long long)kc.blocks,
		       (unsigned long long)kc.handoffs);
	printf("\n");
	if (short_mode) {
		/* the reference: the same files, one thread, no runtime */
		for (int i = 0; i < nfiles; i++) {
			struct file ref = { .path = files[i].path };

			if (hash_file(&ref, NULL) || ref.hash != files[i].hash ||
			    ref.size != files[i].size)
				bad++;
		}
		printf("# raw hash: backend=%s files=%d bytes=%llu "
		       "read=%llu mismatches=%d errors=%d\n",
		       sact_backend_name(st.backend), nfiles,
		       (unsigned long long)total,
		       (unsigned long long)bytes_read, bad, errs);
		demo_check(errs == 0 && bad == 0,
			   "%d hashes equal the single-threaded reference",
			   nfiles);
		demo_check(total == bytes_read,
			   "bytes hashed = bytes read (%llu)",
			   (unsigned long long)total);
	}
	if (dir)
		remove_files(dir);
	return short_mode ? demo_status() : (errs ? 1 : 0);
}
