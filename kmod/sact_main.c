// SPDX-License-Identifier: GPL-2.0
/*
 * sact.ko - scheduler activations for M:N runtimes.
 *
 * This file owns the misc device /dev/sact and its file operations.  The
 * blocking/unblocking upcall mechanism is described in HACKING.md and in
 * include/uapi/linux/sact.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include <linux/sact.h>

static long sact_ioctl_version(void __user *uarg)
{
	struct sact_version v = {};
	u32 size;

	if (get_user(size, (u32 __user *)uarg))
		return -EFAULT;
	if (size < sizeof(v))
		return -EINVAL;
	if (size > sizeof(v)) {
		int ret = check_zeroed_user(uarg + sizeof(v), size - sizeof(v));

		if (ret < 0)
			return ret;
		if (!ret)
			return -E2BIG;
	}
	v.size = sizeof(v);
	v.abi = SACT_ABI_VERSION;
	if (copy_to_user(uarg, &v, sizeof(v)))
		return -EFAULT;
	return 0;
}

/**
 * sact_ioctl() - dispatch an ioctl on /dev/sact
 * @file:	the open device
 * @cmd:	SACT_IOC_*
 * @arg:	user pointer to the command's struct
 *
 * CONTEXT: process context, may sleep.
 * Return: 0 or -errno; -ENOTTY for an unknown command.
 */
static long sact_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case SACT_IOC_VERSION:
		return sact_ioctl_version((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations sact_fops = {
	.owner		= THIS_MODULE,
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

static int __init sact_init(void)
{
	int ret;

	ret = misc_register(&sact_misc);
	if (ret)
		return ret;
	pr_info("loaded, ABI %d\n", SACT_ABI_VERSION);
	return 0;
}

static void __exit sact_exit(void)
{
	misc_deregister(&sact_misc);
	pr_info("unloaded\n");
}

module_init(sact_init);
module_exit(sact_exit);
MODULE_DESCRIPTION("Scheduler activations for M:N runtimes");
MODULE_AUTHOR("The sact developers");
MODULE_LICENSE("GPL");
