// SPDX-License-Identifier: GPL-2.0
/*
 * sact.ko - scheduler activations for M:N runtimes.
 *
 * This file owns the misc device /dev/sact: groups (one per open file,
 * owned by the opener's mm), their shared memory (an accounted __vmalloc()
 * area sized by the group's cap on workers, its pages inserted into the
 * caller's mapping by mmap), the ioctls and their argument rules, the
 * per-user cap on groups and the debugfs view.  The mechanism - the
 * preempt notifier, upcalls, strict mode, worker lifetime - is in
 * sact_worker.c; the ABI and the shared layout in
 * include/uapi/linux/sact.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid_namespace.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>
#include <linux/version.h>
#include <linux/vmalloc.h>

#include "sact_internal.h"

static unsigned int max_groups_per_user = 64;
module_param(max_groups_per_user, uint, 0644);
MODULE_PARM_DESC(max_groups_per_user,
		 "open /dev/sact files (groups) per user id (default 64)");

struct workqueue_struct *sact_wq;

static DEFINE_MUTEX(sact_groups_lock);
static LIST_HEAD(sact_groups);		/* G */
static u64 sact_next_id;		/* G */
static struct dentry *sact_debugfs;

static_assert(sizeof(struct sact_shm_header) <= SACT_SHM_PROCS_OFFSET,
	      "header overlaps the Ps");
static_assert(SACT_SHM_PROCS_OFFSET +
	      SACT_MAX_PROCS * sizeof(struct sact_proc) <=
	      SACT_SHM_WORKERS_OFFSET, "Ps overlap the Ms");
static_assert(sizeof(struct sact_mslot) == 64, "M slot size");
static_assert(SACT_SHM_WORKERS_BYTES(1) == 4096 &&
	      SACT_SHM_WORKERS_BYTES(64) == 4096 &&
	      SACT_SHM_WORKERS_BYTES(65) == 8192, "M slots: page rounded");
static_assert(sizeof(struct sact_shm_header) == 192 &&
	      SACT_SHM_SIZE == 16384,
	      "the default layout is ABI 1's without its ring");
static_assert(SACT_WORKERS_LIMIT < 0xffff, "owner field is 16 bits");
static_assert(SACT_SHM_SIZE_FOR(SACT_WORKERS_LIMIT) <= U32_MAX,
	      "the area's size fits sact_group_config.shm_size");

/*
 * sact_get_args() - read an ioctl argument under the size rules
 * @karg:	the kernel's struct, zeroed and filled here
 * @ksize:	sizeof(*karg)
 * @minsize:	the first published size of the struct
 * @uarg:	the user pointer
 *
 * The struct's first __u32 is the caller's size: below @minsize -EINVAL;
 * above a page -E2BIG (the zero-tail check would scan it all, and no
 * struct will ever be that large); above @ksize its tail must be zero
 * (-E2BIG); missing tail fields read as zero.  On success karg's size
 * field says the size the caller passed.
 * Return: 0 or -errno.
 */
static int sact_get_args(void *karg, size_t ksize, size_t minsize,
			 void __user *uarg)
{
	u32 usize;
	int ret;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < minsize)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(karg, ksize, uarg, usize);
	if (ret)
		return ret;
	*(u32 *)karg = usize;
	return 0;
}

/*
 * sact_put_args() - write an ioctl reply back: the part the caller knows,
 * with the size field set to the kernel's size.
 */
static int sact_put_args(void __user *uarg, void *karg, size_t ksize)
{
	u32 usize = *(u32 *)karg;

	*(u32 *)karg = ksize;
	if (copy_to_user(uarg, karg, min_t(size_t, usize, ksize)))
		return -EFAULT;
	return 0;
}

static long sact_ioctl_version(void __user *uarg)
{
	struct sact_version v;
	int ret;

	ret = sact_get_args(&v, sizeof(v), sizeof(v), uarg);
	if (ret)
		return ret;
	v.abi = SACT_ABI_VERSION;
	return sact_put_args(uarg, &v, sizeof(v));
}

/* The shared area of a group and the arrays sized by its cap. */
struct sact_area {
	void			*shm;
	size_t			size;
	u32			max_workers;
	struct sact_worker	**workers;
};

static void sact_area_free(struct sact_area *a)
{
	kvfree(a->workers);
	vfree(a->shm);
}

/*
 * sact_area_alloc() - a zeroed area for @max_workers workers, its header
 * and slots initialised; charged to the caller's memory cgroup.  Its size
 * is user space's choice (up to some 1 MiB): past the cgroup's limit the
 * allocation fails (__GFP_RETRY_MAYFAIL) rather than call the OOM killer.
 * CONTEXT: process context, may sleep.
 * Return: 0 or -ENOMEM.
 */
static int sact_area_alloc(struct sact_area *a, u32 max_workers)
{
	struct sact_shm_header *hdr;
	struct sact_mslot *ms;
	u32 i;

	a->max_workers = max_workers;
	a->size = SACT_SHM_SIZE_FOR(max_workers);
	a->shm = __vmalloc(a->size, GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL |
			   __GFP_ZERO);
	a->workers = kvcalloc(max_workers, sizeof(*a->workers),
			      GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL);
	if (!a->shm || !a->workers) {
		sact_area_free(a);
		return -ENOMEM;
	}
	hdr = a->shm + SACT_SHM_HEADER_OFFSET;
	hdr->size = a->size;
	hdr->abi = SACT_ABI_VERSION;
	hdr->max_procs = SACT_MAX_PROCS;
	hdr->max_workers = max_workers;
	hdr->procs_offset = SACT_SHM_PROCS_OFFSET;
	hdr->workers_offset = SACT_SHM_WORKERS_OFFSET;
	hdr->nr_procs = SACT_MAX_PROCS;
	ms = a->shm + SACT_SHM_WORKERS_OFFSET;
	for (i = 0; i < max_workers; i++) {
		ms[i].proc = SACT_NONE;
		ms[i].kproc = SACT_NONE;
	}
	return 0;
}

/*
 * sact_group_swap_area() - make @a the group's area; @a gets the old one.
 * CONTEXT: g->lock held, or @g not yet (no longer) reachable.
 */
static void sact_group_swap_area(struct sact_group *g, struct sact_area *a)
{
	struct sact_area old = {
		.shm = g->shm, .size = g->shm_size,
		.max_workers = g->max_workers, .workers = g->workers,
	};

	g->shm = a->shm;
	g->shm_size = a->size;
	g->max_workers = a->max_workers;
	g->workers = a->workers;
	if (g->shm) {
		g->hdr = g->shm + SACT_SHM_HEADER_OFFSET;
		g->procs = g->shm + SACT_SHM_PROCS_OFFSET;
		g->mslots = g->shm + SACT_SHM_WORKERS_OFFSET;
		g->hdr->flags = g->flags;
		g->hdr->nr_procs = g->nr_procs;
	}
	*a = old;
}

static long sact_ioctl_config(struct sact_group *g, void __user *uarg)
{
	struct sact_area area = {};
	struct sact_group_config c;
	u32 max_workers;
	int ret;

	ret = sact_get_args(&c, sizeof(c), SACT_CONFIG_SIZE_VER0, uarg);
	if (ret)
		return ret;
	/* c.shm_size is out only: a reused reply is a valid argument */
	if (c.flags & ~(SACT_CONFIG_STRICT | SACT_CONFIG_POOL) || c.__reserved)
		return -EINVAL;
	if (!c.nr_procs || c.nr_procs > SACT_MAX_PROCS)
		return -EINVAL;
	max_workers = c.max_workers ?: SACT_MAX_WORKERS;
	if (max_workers > SACT_WORKERS_LIMIT)
		return -EINVAL;
	/* A new cap: a new area, allocated before the lock, swapped under it */
	if (max_workers != READ_ONCE(g->max_workers)) {
		if (READ_ONCE(g->layout_fixed))
			return -EBUSY;	/* no need to allocate to say so */
		ret = sact_area_alloc(&area, max_workers);
		if (ret)
			return ret;
	}
	raw_spin_lock_irq(&g->lock);
	if (max_workers != g->max_workers) {
		if (g->layout_fixed || !area.shm)
			ret = -EBUSY;	/* mapped or in use; or a racing CONFIG */
		else
			sact_group_swap_area(g, &area);
	}
	if (!ret) {
		WRITE_ONCE(g->flags, c.flags);
		WRITE_ONCE(g->nr_procs, c.nr_procs);
		WRITE_ONCE(g->hdr->flags, c.flags);
		WRITE_ONCE(g->hdr->nr_procs, c.nr_procs);
		c.max_workers = g->max_workers;
		c.shm_size = g->shm_size;
	}
	raw_spin_unlock_irq(&g->lock);
	if (area.shm)
		sact_area_free(&area);	/* the old one, or ours unused */
	if (ret)
		return ret;
	/* A caller of the first published size asked for no reply. */
	if (c.size < offsetofend(struct sact_group_config, shm_size))
		return 0;
	return sact_put_args(uarg, &c, sizeof(c));
}

static long sact_ioctl_worker(struct sact_group *g, bool reg,
			      void __user *uarg)
{
	struct sact_worker_args a;
	int ret;

	ret = sact_get_args(&a, sizeof(a), sizeof(a), uarg);
	if (ret)
		return ret;
	if (a.flags || a.__reserved)
		return -EINVAL;
	if (reg)
		return sact_worker_register(g, a.worker);
	return sact_worker_unregister(g, a.worker);
}

static long sact_ioctl_standby(struct sact_group *g, void __user *uarg)
{
	struct sact_standby s;
	int ret, proc;

	ret = sact_get_args(&s, sizeof(s), sizeof(s), uarg);
	if (ret)
		return ret;
	if (s.flags)
		return -EINVAL;
	proc = sact_standby(g, &s);
	if (proc < 0)
		return proc;
	/* The P is ours whatever happens to the copy: return it anyway. */
	sact_put_args(uarg, &s, sizeof(s));
	return proc;
}

static long sact_ioctl_grant(struct sact_group *g, void __user *uarg)
{
	struct sact_grant a;
	int ret;

	ret = sact_get_args(&a, sizeof(a), SACT_GRANT_SIZE_VER0, uarg);
	if (ret)
		return ret;
	if (a.flags & ~SACT_GRANT_STANDBY || a.__reserved ||
	    (!(a.flags & SACT_GRANT_STANDBY) && a.seq) ||
	    a.proc >= READ_ONCE(g->nr_procs))
		return -EINVAL;
	return sact_grant(g, &a);
}

static long sact_ioctl_counters(struct sact_group *g, void __user *uarg)
{
	struct sact_counters c;
	int ret;

	ret = sact_get_args(&c, sizeof(c), sizeof(c), uarg);
	if (ret)
		return ret;
	if (c.flags)
		return -EINVAL;
	raw_spin_lock_irq(&g->lock);
	c.blocks = g->blocks;
	c.unblocks = g->unblocks;
	c.handoffs = g->handoffs;
	c.strict_parks = g->strict_parks;
	c.ring_overflows = 0;		/* ABI 1's ring is gone */
	c.reclaims = g->reclaims;
	c.grants = g->grants;
	c.workers = g->nr_workers;
	c.standbys = g->nr_standby;
	raw_spin_unlock_irq(&g->lock);
	c.upcalls = atomic64_read(&g->upcalls);
	return sact_put_args(uarg, &c, sizeof(c));
}

/**
 * sact_ioctl() - dispatch an ioctl on /dev/sact
 * @file:	the open device (a group)
 * @cmd:	SACT_IOC_*, of any size and direction
 * @arg:	user pointer to the command's struct
 *
 * CONTEXT: process context, may sleep.
 * Return: 0 (the P index for %SACT_IOC_STANDBY) or -errno; -ENOTTY for an
 * unknown command, -EPERM from an mm that does not own the group.
 */
static long sact_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct sact_group *g = file->private_data;
	void __user *uarg = (void __user *)arg;
	unsigned int nr = _IOC_NR(cmd);

	/* Type and number only: see "Numbers" in the UAPI header. */
	if (_IOC_TYPE(cmd) != SACT_IOC_MAGIC ||
	    nr > _IOC_NR(SACT_IOC_COUNTERS))
		return -ENOTTY;
	if (nr == _IOC_NR(SACT_IOC_VERSION))
		return sact_ioctl_version(uarg);
	if (current->mm != g->mm)
		return -EPERM;
	switch (nr) {
	case _IOC_NR(SACT_IOC_CONFIG):
		return sact_ioctl_config(g, uarg);
	case _IOC_NR(SACT_IOC_REGISTER):
		return sact_ioctl_worker(g, true, uarg);
	case _IOC_NR(SACT_IOC_UNREGISTER):
		return sact_ioctl_worker(g, false, uarg);
	case _IOC_NR(SACT_IOC_STANDBY):
		return sact_ioctl_standby(g, uarg);
	case _IOC_NR(SACT_IOC_GRANT):
		return sact_ioctl_grant(g, uarg);
	default:
		return sact_ioctl_counters(g, uarg);
	}
}

/**
 * sact_mmap() - map the group's shared memory
 * @file:	the group
 * @vma:	MAP_SHARED, offset 0, at most the area's size, not executable
 *
 * The first mmap fixes the group's layout (its cap on workers).  The
 * mapping is never inherited by fork: VM_DONTCOPY, and VM_IO, on which
 * madvise(MADV_DOFORK) is refused (a child has no business with its
 * parent's group); VM_DONTEXPAND keeps mremap from growing it past the
 * area.  A private mapping would give the caller copies the kernel never
 * sees: refused.
 * CONTEXT: process context, mmap lock held for writing.
 * Return: 0, -EPERM (other mm, or PROT_EXEC), -EINVAL (offset, size, not
 * shared), or vm_insert_page()'s error.
 */
static int sact_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct sact_group *g = file->private_data;
	unsigned long len = vma->vm_end - vma->vm_start, off;
	void *shm = NULL;
	int ret;

	if (current->mm != g->mm)
		return -EPERM;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	raw_spin_lock_irq(&g->lock);
	if (!vma->vm_pgoff && len <= g->shm_size) {
		g->layout_fixed = true;
		shm = g->shm;
	}
	raw_spin_unlock_irq(&g->lock);
	if (!shm)
		return -EINVAL;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_mod(vma, VM_DONTCOPY | VM_IO | VM_DONTEXPAND | VM_DONTDUMP,
		     VM_MAYEXEC);
#else
	vma->vm_flags |= VM_DONTCOPY | VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_flags &= ~VM_MAYEXEC;
#endif
	for (off = 0; off < len; off += PAGE_SIZE) {
		ret = vm_insert_page(vma, vma->vm_start + off,
				     vmalloc_to_page(shm + off));
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Whom a new group counts against: the opener's uid in the initial user
 * namespace; inside a user namespace, the (initial) uid that created the
 * outermost one, so that the uids a namespace maps do not each get a cap.
 * CONTEXT: process context (open).
 */
static kuid_t sact_cap_owner(void)
{
	const struct user_namespace *ns = current_user_ns();

	if (ns == &init_user_ns)
		return current_uid();
	while (ns->parent != &init_user_ns)
		ns = ns->parent;
	return ns->owner;
}

/* Count the cap owner's groups and, below the cap, add @g.  0 or -EMFILE. */
static int sact_group_link(struct sact_group *g)
{
	struct sact_group *it;
	unsigned int n = 0;
	int ret = 0;

	mutex_lock(&sact_groups_lock);
	list_for_each_entry(it, &sact_groups, node)
		if (uid_eq(it->cap_uid, g->cap_uid))
			n++;
	if (n >= READ_ONCE(max_groups_per_user)) {
		ret = -EMFILE;
	} else {
		g->id = ++sact_next_id;
		list_add_tail(&g->node, &sact_groups);
	}
	mutex_unlock(&sact_groups_lock);
	return ret;
}

static int sact_open(struct inode *inode, struct file *file)
{
	struct sact_area area = {};
	struct sact_group *g;
	int ret;

	if (!current->mm)
		return -EPERM;
	g = kzalloc(sizeof(*g), GFP_KERNEL_ACCOUNT);
	if (!g)
		return -ENOMEM;
	g->nr_procs = SACT_MAX_PROCS;
	ret = sact_area_alloc(&area, SACT_MAX_WORKERS);
	if (ret)
		goto out_free_group;
	sact_group_swap_area(g, &area);
	raw_spin_lock_init(&g->lock);
	sact_group_init_upcalls(g);
	g->file = file;
	g->uid = current_uid();
	g->cap_uid = sact_cap_owner();
	g->pid = get_pid(task_tgid(current));
	ret = sact_group_link(g);
	if (ret)
		goto out_put_pid;
	g->mm = current->mm;
	mmgrab(g->mm);			/* pointer compares stay ABA-free */
	file->private_data = g;
	return 0;

out_put_pid:
	put_pid(g->pid);
	sact_group_swap_area(g, &area);
	sact_area_free(&area);
out_free_group:
	kfree(g);
	return ret;
}

/*
 * The last reference to the file: no worker is registered (each holds one)
 * and no standby is parked (the ioctl holds one).
 */
static int sact_release(struct inode *inode, struct file *file)
{
	struct sact_group *g = file->private_data;
	struct sact_area area = {};

	WARN_ON_ONCE(g->nr_workers || g->nr_standby);
	sact_group_sync_upcalls(g);
	mutex_lock(&sact_groups_lock);
	list_del(&g->node);
	mutex_unlock(&sact_groups_lock);
	mmdrop(g->mm);
	put_pid(g->pid);
	sact_group_swap_area(g, &area);
	sact_area_free(&area);
	kfree(g);
	return 0;
}

static const struct file_operations sact_fops = {
	.owner		= THIS_MODULE,
	.open		= sact_open,
	.release	= sact_release,
	.mmap		= sact_mmap,
	.unlocked_ioctl	= sact_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice sact_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "sact",
	.fops	= &sact_fops,
	.mode	= 0666,
};

/*
 * debugfs: /sys/kernel/debug/sact/groups, one line per group.  Each
 * group's numbers are copied under its raw lock (irqs off: no printing
 * there) and printed after it; pids and uids as the reader's namespaces
 * see them (0 / overflowuid when they do not).
 */
struct sact_group_snap {
	u64 blocks, unblocks, upcalls, handoffs, strict_parks, reclaims;
	u64 grants;
	u32 workers, standbys;
};

static int sact_groups_show(struct seq_file *m, void *unused)
{
	struct pid_namespace *ns = task_active_pid_ns(current);
	struct user_namespace *uns = seq_user_ns(m);
	struct sact_group_snap s;
	struct sact_group *g;
	static const char header[] =
		"id tgid uid workers standbys blocks unblocks upcalls handoffs strict_parks ring_overflows reclaims grants\n";

	seq_puts(m, header);
	mutex_lock(&sact_groups_lock);
	list_for_each_entry(g, &sact_groups, node) {
		raw_spin_lock_irq(&g->lock);
		s.workers = g->nr_workers;
		s.standbys = g->nr_standby;
		s.blocks = g->blocks;
		s.unblocks = g->unblocks;
		s.handoffs = g->handoffs;
		s.strict_parks = g->strict_parks;
		s.reclaims = g->reclaims;
		s.grants = g->grants;
		raw_spin_unlock_irq(&g->lock);
		s.upcalls = atomic64_read(&g->upcalls);
		/* ring_overflows: ABI 1's ring is gone, the column stays 0 */
		seq_printf(m, "%llu %d %u %u %u %llu %llu %llu %llu %llu 0 %llu %llu\n",
			   g->id, pid_nr_ns(g->pid, ns),
			   from_kuid_munged(uns, g->uid), s.workers,
			   s.standbys, s.blocks, s.unblocks, s.upcalls,
			   s.handoffs, s.strict_parks, s.reclaims, s.grants);
	}
	mutex_unlock(&sact_groups_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(sact_groups);

static int __init sact_init(void)
{
	int ret;

	sact_wq = alloc_workqueue("sact", 0, 0);
	if (!sact_wq)
		return -ENOMEM;
	sact_notifier_init();
	ret = misc_register(&sact_misc);
	if (ret)
		goto out_notifier;
	sact_debugfs = debugfs_create_dir("sact", NULL);
	debugfs_create_file("groups", 0444, sact_debugfs, NULL,
			    &sact_groups_fops);
	pr_info("loaded, ABI %d\n", SACT_ABI_VERSION);
	return 0;

out_notifier:
	sact_notifier_exit();
	destroy_workqueue(sact_wq);
	return ret;
}

/*
 * Every group and worker pins the module (file references), so nothing is
 * left but work items that already dropped their last reference: draining
 * the workqueue waits for them.
 */
static void __exit sact_exit(void)
{
	debugfs_remove(sact_debugfs);
	misc_deregister(&sact_misc);
	destroy_workqueue(sact_wq);
	sact_notifier_exit();
	pr_info("unloaded\n");
}

module_init(sact_init);
module_exit(sact_exit);
MODULE_DESCRIPTION("Scheduler activations for M:N runtimes");
MODULE_AUTHOR("The sact developers");
MODULE_LICENSE("GPL");
