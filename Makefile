# SPDX-License-Identifier: GPL-2.0
#
# sact: the module (kbuild, see Kbuild and kmod/Kbuild) and user space
# (this file, non-recursive).  Everything lands in $(O).
#
#   make deps            install what the rest needs (Debian 12; root)
#   make                 build the module, libsact, demos, benches, tests
#   make test            build, run user-space tests natively, then the
#                        module's tests in a QEMU VM; prints one summary line
#   make test-debug      the module's VM suites on a debug build of 6.1
#                        (lockdep, KASAN, UBSAN, kmemleak, ...; KCSAN=1:
#                        KCSAN instead of KASAN); opt-in, not in make test
#   make demo            boot the VM, load the module, run the demo
#                        (DEMO=echo|hash|strict|isolation for another)
#   make bench           run the benchmarks natively (QUICK=1: < 5 min),
#                        results in $(O)/bench-results/<date>/
#   make bench-vm        the same with the kmod backend, in the VM
#   make benches         only build them
#   make install         libsact (.a, .so), headers, sact.pc, sactstat, man
#                        pages, the udev rule, and the module
#                        (modules_install); PREFIX=/usr/local, DESTDIR=
#   make V=1             show the commands
#   make module          sact.ko for the running kernel ($(O)/kmod/sact.ko;
#                        KDIR=<kernel build dir> for another kernel)
#
# Files are found by convention, so adding one needs no edit here:
#   userspace/lib/*.c, userspace/lib/arch/$(ARCH)/*.S   -> libsact.{a,so}
#   userspace/bpf/*.bpf.c        -> $(O)/bpf/*.skel.h (visible to libsact)
#   userspace/demos/*.c          -> $(O)/demos/*
#   userspace/bench/*.c          -> $(O)/bench/*
#   userspace/bench/go/*.go      -> $(O)/bench/go/*
#   userspace/tools/*.c          -> $(O)/tools/*  (installed to BINDIR)
#   man/*.[1-8]                  -> installed to MANDIR/man<section>
#   udev/*.rules                 -> installed to UDEVDIR
#   selftests/<suite>/*.c        -> $(O)/selftests/<suite>/*  (one test each)
# The runtime and uring suites are also built against ASan+UBSan and TSan builds of
# libsact, in $(O)/asan and $(O)/tsan.

.DEFAULT_GOAL := all
O	?= build
ARCH	?= $(shell uname -m)
V	?= 0
SHELL	:= /bin/bash -o pipefail

ifeq ($(V),1)
Q	:=
msg	:= @true
else
Q	:= @
msg	= @printf '  %-7s %s\n'
endif

# Check what is needed (never install: that is `make deps`), and learn
# which Debian 6.1 kernel the VM uses.  make builds an included makefile
# before anything else, so deps.sh runs first and stops the build with a
# list of what is missing; it rewrites $(O)/deps.mk only when its content
# changes.  The goals that run things need the VM and the checkers too.
NODEPS_GOALS := clean help deps
RUN_GOALS := test demo bench bench-vm
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(O)/deps.mk
endif
$(O)/deps.mk: FORCE
	$(Q)scripts/deps.sh --mk $@ $(if $(filter $(RUN_GOALS),$(MAKECMDGOALS)),--run)

# The module is built for KDIR: the running kernel's headers where they are
# installed, else Debian's 6.1 ones.  The VM always gets its own build for
# Debian's 6.1 kernel, whatever the host runs ($(O)/vm/sact.ko).
RUN_KDIR := /lib/modules/$(shell uname -r)/build
KDIR	?= $(if $(wildcard $(RUN_KDIR)/Makefile),$(RUN_KDIR),$(DEB_KDIR))
KSFT	:= $(O)/ksft

CC	:= gcc
CLANG	:= clang
BPFTOOL	:= bpftool
GO	:= go

CFLAGS	:= -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	   -fno-omit-frame-pointer -Iinclude -Iinclude/uapi -I$(O)/bpf -MMD -MP
# libsact: position independent (one object set for .a and .so), internal
# symbols hidden, and TLS that costs one %fs-relative load.
LIB_CFLAGS := -fPIC -fvisibility=hidden -ftls-model=initial-exec
# The harness is a system header (its own code is not ours to warn on); its
# macros compare mixed signedness (the kernel builds its
# selftests with -Wall only): that one -Wextra warning is off for tests.
# The harness kills a test after TEST_TIMEOUT seconds: a hang guard only
# (its own 30 s killed correct TSan runs on a loaded machine).
TEST_TIMEOUT ?= 300
TEST_CFLAGS := -isystem $(KSFT) -Iselftests -Wno-sign-compare \
	       -DTEST_TIMEOUT_DEFAULT=$(TEST_TIMEOUT)
LDLIBS	:= -luring -lbpf -lelf -lz -lpthread
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS := -fsanitize=thread

# --- what there is -------------------------------------------------------
LIB_SRCS := $(sort $(wildcard userspace/lib/*.c) \
		   $(wildcard userspace/lib/arch/$(ARCH)/*.S))
BPF_SRCS := $(sort $(wildcard userspace/bpf/*.bpf.c))
BPF_SKELS := $(patsubst userspace/bpf/%.bpf.c,$(O)/bpf/%.skel.h,$(BPF_SRCS))
DEMOS	 := $(patsubst userspace/demos/%.c,$(O)/demos/%,\
		$(wildcard userspace/demos/*.c))
BENCHES	 := $(patsubst userspace/bench/%.c,$(O)/bench/%,\
		$(wildcard userspace/bench/*.c))
TOOLS	 := $(patsubst userspace/tools/%.c,$(O)/tools/%,\
		$(wildcard userspace/tools/*.c))
MANPAGES := $(wildcard man/*.[1-8])
GO_BENCHES := $(patsubst userspace/bench/go/%.go,$(O)/bench/go/%,\
		$(wildcard userspace/bench/go/*.go))
# Go peers that use net are built twice: as go build makes them here (cgo:
# glibc's resolver, threads made by pthread_create) and pure Go (netgo).
GO_NETGO := $(O)/bench/go/ex1-netgo $(O)/bench/go/resolve-netgo
SUITES	 := $(notdir $(wildcard selftests/*))
tests_of = $(patsubst selftests/$(1)/%.c,$(2)/selftests/$(1)/%,\
		$(wildcard selftests/$(1)/*.c))
TESTS	 := $(foreach s,$(SUITES),$(call tests_of,$(s),$(O)))
SAN_TESTS := $(foreach s,runtime uring,$(call tests_of,$(s),$(O)/asan) \
		$(call tests_of,$(s),$(O)/tsan))

lib_objs = $(patsubst userspace/%,$(1)/%.o,$(LIB_SRCS))

VERSION	:= $(shell cat VERSION)
PREFIX	?= /usr/local
LIBDIR	?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
# udev reads /usr/lib/udev/rules.d (and /etc/udev/rules.d), not /usr/local:
# with the default PREFIX pass UDEVDIR=/etc/udev/rules.d to have it used.
UDEVDIR	?= $(PREFIX)/lib/udev/rules.d
UDEV_RULES := $(wildcard udev/*.rules)

.PHONY: all deps module vm-module lib demos benches bench bench-vm tools \
	tests test test-debug demo clean help FORCE \
	install install-lib install-module install-udev
all: module lib demos benches tools tests

help:
	@sed -n '3,/^$$/p' Makefile

deps:
	$(Q)scripts/deps.sh --install

# --- the module ------------------------------------------------------------
# kbuild builds an external module inside its source directory (M=), so each
# kernel gets a copy of the module's sources of its own under $(O)/kbuild/
# (cp -p: kbuild's timestamps stay meaningful), and the .ko is copied out.
# kbuild reads O= as its own output directory, and ours would reach it
# through MAKEFLAGS: every kbuild call passes O=<kernel dir>, its default.
KMOD_SRCS := Kbuild $(wildcard kmod/Kbuild kmod/*.[ch]) include/uapi/linux/sact.h
kbuild_dir = $(abspath $(O))/kbuild/$(subst /,_,$(realpath $(1)))
# $(call kbuild,KDIR,TARGET,GOAL): run kbuild's GOAL for KDIR, then copy
# the module to TARGET (if given).
define kbuild
	$(Q)k='$(1)'; if [ ! -f "$$k/Makefile" ]; then \
		echo "module: no kernel build tree$(if $(1), at $(1))." >&2; \
		echo "  Install the running kernel's headers ($(RUN_KDIR);" \
			"Debian: linux-headers-$$(uname -r)), or Debian's 6.1" \
			"ones (make deps), or pass KDIR=<kernel build dir>." >&2; \
		exit 1; \
	elif ! grep -qs '^CONFIG_PREEMPT_NOTIFIERS=y' "$$k/include/config/auto.conf"; then \
		echo "module: $$k: the kernel has no CONFIG_PREEMPT_NOTIFIERS" \
			"(or no include/config/auto.conf): sact.ko needs it" >&2; \
		exit 1; \
	fi
	$(Q)mkdir -p $(call kbuild_dir,$(1)) && \
		cp -p --parents $(KMOD_SRCS) $(call kbuild_dir,$(1))/
	+$(Q)$(MAKE) --no-print-directory -C $(1) M=$(call kbuild_dir,$(1)) \
		O=$(1) $(if $(filter 1,$(V)),V=1) $(3) 2>&1 \
		| { grep -v 'Skipping BTF generation\|System.map' || true; }
	$(if $(2),$(Q)mkdir -p $(dir $(2)) && \
		cp $(call kbuild_dir,$(1))/kmod/sact.ko $(2))
endef

module: $(O)/kmod/sact.ko
$(O)/kmod/sact.ko: FORCE
	$(if $(wildcard $(RUN_KDIR)/Makefile),,$(if $(filter command line environment,$(origin KDIR)),,\
		@echo "module: no headers of the running kernel $$(uname -r);" \
			"building for $(KDIR) (KDIR= for another)"))
	$(call kbuild,$(KDIR),$@,modules)

# The VM's module, for Debian's 6.1 kernel (scripts/vm-run copies $(O)/vm);
# the same build as `module`'s when KDIR is that kernel.
vm-module: $(O)/vm/sact.ko
ifeq ($(realpath $(KDIR)),$(realpath $(DEB_KDIR)))
$(O)/vm/sact.ko: $(O)/kmod/sact.ko
	$(Q)mkdir -p $(@D) && cp $< $@
else
$(O)/vm/sact.ko: FORCE
	$(call kbuild,$(DEB_KDIR),$@,modules)
endif

# --- libsact, per variant ----------------------------------------------------
# $(1): output dir, $(2): extra flags.  Each variant has its own objects.
define variant_rules
$(1)/lib/%.c.o: userspace/lib/%.c | $(BPF_SKELS)
	$$(msg) CC $$@
	$$(Q)mkdir -p $$(@D) && $$(CC) $$(CFLAGS) $$(LIB_CFLAGS) $(2) -c -o $$@ $$<
$(1)/lib/%.S.o: userspace/lib/%.S
	$$(msg) AS $$@
	$$(Q)mkdir -p $$(@D) && $$(CC) $$(CFLAGS) $$(LIB_CFLAGS) $(2) -c -o $$@ $$<
$(1)/libsact.a: $(call lib_objs,$(1))
	$$(msg) AR $$@
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
$(1)/selftests/%: selftests/%.c $(1)/libsact.a $(KSFT)/harness.stamp
	$$(msg) CC $$@
	$$(Q)mkdir -p $$(@D) && $$(CC) $$(CFLAGS) $$(TEST_CFLAGS) $(2) \
		-o $$@ $$< $(1)/libsact.a $$(LDLIBS)
-include $(patsubst %.o,%.d,$(call lib_objs,$(1)))
endef
$(eval $(call variant_rules,$(O),))
$(eval $(call variant_rules,$(O)/asan,$(ASAN_FLAGS)))
$(eval $(call variant_rules,$(O)/tsan,$(TSAN_FLAGS)))

-include $(addsuffix .d,$(TESTS) $(SAN_TESTS) $(DEMOS) $(BENCHES) $(TOOLS))

lib: $(O)/libsact.a $(O)/libsact.so $(O)/libsact.so.0
# Only the public API is exported, by name: userspace/lib/libsact.map.
$(O)/libsact.so: $(call lib_objs,$(O)) userspace/lib/libsact.map
	$(msg) LD $@
	$(Q)$(CC) -shared -Wl,-soname,libsact.so.0 \
		-Wl,--version-script=userspace/lib/libsact.map \
		-o $@ $(filter %.o,$^) $(LDLIBS)
# The soname, which a program linked with -L$(O) -lsact asks the loader for
# (LD_LIBRARY_PATH=$(O) runs it from the build tree).
$(O)/libsact.so.0: | $(O)/libsact.so
	$(Q)ln -sf libsact.so $@

# --- BPF programs ------------------------------------------------------------
$(O)/bpf/vmlinux.h:
	$(msg) GEN $@
	$(Q)mkdir -p $(@D) && $(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux \
		format c > $@.tmp && mv $@.tmp $@
$(O)/bpf/%.bpf.o: userspace/bpf/%.bpf.c $(O)/bpf/vmlinux.h
	$(msg) BPF $@
	$(Q)$(CLANG) -O2 -g -Wall -Werror -target bpf \
		-D__TARGET_ARCH_$(subst x86_64,x86,$(ARCH)) \
		-I$(O)/bpf -Iinclude -c -o $@.dbg.o $<
	@# the skeleton embeds the object and a program holds it in memory:
	@# linked without DWARF (BTF stays) it is 36 KiB instead of 650
	$(Q)$(BPFTOOL) gen object $@ $@.dbg.o
$(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(msg) SKEL $@
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# --- demos, benches ----------------------------------------------------------
link_prog = mkdir -p $(@D) && $(CC) $(CFLAGS) -o $@ $< $(O)/libsact.a $(LDLIBS)
demos: $(DEMOS)
$(O)/demos/%: userspace/demos/%.c $(O)/libsact.a
	$(msg) CC $@
	$(Q)$(link_prog)

tools: $(TOOLS)
$(O)/tools/%: userspace/tools/%.c $(O)/libsact.a
	$(msg) CC $@
	$(Q)$(link_prog)

benches: $(BENCHES) $(GO_BENCHES) $(GO_NETGO)
# scripts/bench: every case >= 5 runs, CSV, report.md, plots (QUICK=1:
# fewer and shorter; see the script for --only, --runs).
bench: benches
	$(Q)O=$(O) QUICK=$(QUICK) scripts/bench
bench-vm: vm-module benches
	$(Q)O=$(O) QUICK=$(QUICK) VMLINUZ=$(DEB_VMLINUZ) scripts/bench --vm
$(O)/bench/%: userspace/bench/%.c $(O)/libsact.a
	$(msg) CC $@
	$(Q)$(link_prog)
$(O)/bench/go/%-netgo: userspace/bench/go/%.go
	$(msg) GO $@
	$(Q)mkdir -p $(@D) && GOCACHE=$(abspath $(O))/gocache GO111MODULE=off \
		CGO_ENABLED=0 $(GO) build -tags netgo -o $@ $<
$(O)/bench/go/%: userspace/bench/go/%.go
	$(msg) GO $@
	$(Q)mkdir -p $(@D) && GOCACHE=$(abspath $(O))/gocache GO111MODULE=off \
		CGO_ENABLED=1 $(GO) build -o $@ $<

# --- tests -------------------------------------------------------------------
# The kselftest framework comes from Debian's linux-source-6.1; only its two
# headers are extracted, once, and the harness's default timeout made
# overridable (TEST_TIMEOUT above).
$(KSFT)/harness.stamp: $(KSRC_TAR)
	$(msg) KSFT $(KSFT)
	$(Q)mkdir -p $(KSFT) && tar -xf $< -C $(KSFT) --strip-components=4 \
		--wildcards '*/tools/testing/selftests/kselftest_harness.h' \
			    '*/tools/testing/selftests/kselftest.h'
	$(Q)sed -i 's/^#define TEST_TIMEOUT_DEFAULT 30$$/#ifndef TEST_TIMEOUT_DEFAULT\n&\n#endif/' \
		$(KSFT)/kselftest_harness.h
	$(Q)grep -q '^#ifndef TEST_TIMEOUT_DEFAULT' $(KSFT)/kselftest_harness.h
	$(Q)touch $@

tests: $(TESTS) $(SAN_TESTS)

test: all vm-module
	$(Q)O=$(O) VMLINUZ=$(DEB_VMLINUZ) scripts/test

# The kernel is built once per config hash (scripts/debug-kernel), the
# module against it (scripts/test-debug).
test-debug: all
	$(Q)O=$(O) KCSAN=$(KCSAN) scripts/test-debug

# Only what the guest runs: the module and the demos (DEMO=name, see
# scripts/demo).
demo: vm-module demos
	$(Q)O=$(O) VMLINUZ=$(DEB_VMLINUZ) scripts/demo

# --- install -----------------------------------------------------------------
install: install-lib install-module install-udev

# The rule only takes effect once udev reloads: udevadm control --reload &&
# udevadm trigger -s misc (or the next boot, or the next modprobe).
install-udev:
	$(Q)$(foreach r,$(UDEV_RULES),install -D -m 644 $(r) \
		$(DESTDIR)$(UDEVDIR)/$(notdir $(r)) &&) true

install-lib: lib tools
	$(msg) INSTALL $(DESTDIR)$(PREFIX)
	$(Q)install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(BINDIR)
	$(Q)$(if $(TOOLS),install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)/)
	$(Q)$(foreach m,$(MANPAGES),install -D -m 644 $(m) \
		$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)) &&) true
	$(Q)install -m 644 $(O)/libsact.a $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 755 $(O)/libsact.so $(DESTDIR)$(LIBDIR)/libsact.so.$(VERSION)
	$(Q)ln -sf libsact.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libsact.so.0
	$(Q)ln -sf libsact.so.0 $(DESTDIR)$(LIBDIR)/libsact.so
	$(Q)install -m 644 include/sact.h $(DESTDIR)$(INCLUDEDIR)/
	$(Q)install -m 644 include/uapi/linux/sact.h $(DESTDIR)$(INCLUDEDIR)/linux/
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		sact.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/sact.pc

# The module goes to /lib/modules/<kernel>/extra; nothing signs it (a
# distribution's key is not ours).  depmod runs for a real install only.
install-module: module
	$(msg) INSTALL $(DESTDIR)/lib/modules
	$(call kbuild,$(KDIR),,-s INSTALL_MOD_PATH=$(DESTDIR) \
		CONFIG_MODULE_SIG_ALL= modules_install)
	$(Q)if [ -z "$(DESTDIR)" ]; then \
		for ko in /lib/modules/*/extra/kmod/sact.ko; do \
			depmod -a "$$(echo "$$ko" | cut -d/ -f4)"; \
		done; \
	fi

clean:
	$(Q)rm -rf $(O)

FORCE:
.SECONDARY:
.DELETE_ON_ERROR:
