#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# deps.sh - what sact needs to build and test: check it, or install it.
#
#   scripts/deps.sh [--run]            check; list what is missing, exit 1
#   scripts/deps.sh --mk FILE [--run]  check, then write make variables to FILE
#                                     (which Debian 6.1 kernel the VM uses)
#   scripts/deps.sh --install         install all of it from Debian (`make
#                                     deps`; root or sudo, network)
#   scripts/deps.sh --debug-kernel    also what building a kernel needs
#                                     (scripts/debug-kernel: make test-debug);
#                                     installs what is missing (root)
#
# Checking never installs: `make` runs --mk (with --run for the goals that
# boot the VM or run the tests) and stops with the list when something is
# missing.  A check looks for the command or file itself, not for a Debian
# package, so it answers on any distribution; the package named beside each
# item is Debian 12's, which --install installs.  --install is idempotent
# (nothing to do: no apt call) and works where `apt-get update` never ran.
set -euo pipefail

# need CHECK PACKAGE WHAT: one requirement.  CHECK is cmd:NAME (a command),
# file:PATTERN (a path, globs allowed) or kdir: (headers to build the module
# against: the running kernel's, else Debian's 6.1).
build_needs=(
	"cmd:gcc			gcc		C compiler"
	"cmd:make			make		make"
	"file:/usr/include/stdio.h	libc6-dev	C library headers"
	"cmd:clang			clang		BPF compiler"
	"cmd:bpftool			bpftool		BPF skeleton generator"
	"file:/usr/include/bpf/libbpf.h	libbpf-dev	libbpf"
	"file:/usr/include/libelf.h	libelf-dev	libelf"
	"file:/usr/include/zlib.h	zlib1g-dev	zlib"
	"file:/usr/include/liburing.h	liburing-dev	liburing"
	"cmd:go				golang-go	Go (the benchmarks' peers)"
	"cmd:xz				xz-utils	xz"
	"file:/usr/src/linux-source-6.1.tar.xz linux-source-6.1 the kselftest harness (from Linux 6.1's source)"
	"kdir:				linux-headers-amd64 headers to build the module for (the running kernel's or Debian 6.1's)"
)
# Only for the goals that run things (test, demo, bench, bench-vm): the VM,
# the checkers, the plots.
run_needs=(
	"file:/boot/vmlinuz-6.1*-amd64	linux-image-amd64 Debian's 6.1 kernel (the VM boots it)"
	"file:/usr/src/linux-headers-6.1*-amd64 linux-headers-amd64 Debian's 6.1 headers (the VM's module)"
	"cmd:qemu-system-x86_64		qemu-system-x86	QEMU"
	"file:/bin/busybox		busybox-static	busybox (the VM's userland)"
	"cmd:cpio			cpio		cpio"
	"cmd:pkg-config			pkg-config	pkg-config (install check)"
	"cmd:groff			groff-base	groff (man page check)"
	"cmd:man			man-db		man (man page check)"
	"cmd:depmod			kmod		depmod"
	"cmd:gnuplot			gnuplot-nox	gnuplot (benchmark plots)"
	"cmd:wrk				wrk		wrk (the http benchmark)"
	"cmd:strace			strace		strace (the http benchmark's clone counts)"
)
# Kconfig's parser, timeconst, and pahole for the debug kernel's BTF.
[[ ${1:-} != --debug-kernel ]] || PKGS+=(flex bison bc dwarves)

# present CHECK: is it here?
present() {
	local kind=${1%%:*} arg=${1#*:} f
	case $kind in
	cmd)	command -v "$arg" >/dev/null ;;
	file)	for f in $arg; do [[ -e $f ]] && return 0; done; return 1 ;;
	kdir)	[[ -e /lib/modules/$(uname -r)/build/Makefile ]] ||
			present "file:/usr/src/linux-headers-6.1*-amd64" ;;
	esac
}

# check LIST...: print the missing items of the requirement lists named.
# Sets the array `missing` to their packages.
check() {
	local list item check pkg what
	missing=()
	for list in "$@"; do
		list="$list[@]"
		for item in "${!list}"; do
			read -r check pkg what <<<"$item"
			present "$check" && continue
			printf '  %-20s %s\n' "$pkg" "$what"
			missing+=("$pkg")
		done
	done
}

# Only for scripts/debug-kernel (make test-debug): Kconfig's parser,
# timeconst, pahole for the debug kernel's BTF.
debug_needs=(
	"cmd:flex			flex		flex (Kconfig)"
	"cmd:bison			bison		bison (Kconfig)"
	"cmd:bc				bc		bc (the kernel's timeconst)"
	"cmd:pahole			dwarves		pahole (the debug kernel's BTF)"
)

install() {
	local sudo=()
	check build_needs run_needs "$@" >/dev/null
	((${#missing[@]})) || return 0
	# Both Debian 6.1 packages go together: the VM wants a matching pair.
	if [[ " ${missing[*]} " == *" linux-"[hi]* ]]; then
		missing+=(linux-headers-amd64 linux-image-amd64)
	fi
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	echo "deps: installing ${missing[*]}" >&2
	if ((EUID != 0)); then
		command -v sudo >/dev/null ||
			{ echo "deps: need root to run: apt-get install ${missing[*]}" >&2; exit 1; }
		sudo=(sudo)
	fi
	command -v apt-get >/dev/null ||
		{ echo "deps: no apt-get: install the equivalents of ${missing[*]}" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine has empty package lists, an old one may have stale
	# ones: refresh if apt does not know every package.
	if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
		"${sudo[@]}" apt-get update -qq
	fi
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

mk= run=0
while (($#)); do
	case $1 in
	--install) install; exit 0 ;;
	--debug-kernel) install debug_needs; exit 0 ;;
	--mk) mk=${2:?--mk needs a file}; shift 2 ;;
	--run) run=1; shift ;;
	*) echo "deps: unknown argument $1 (see the top of $0)" >&2; exit 2 ;;
	esac
done

lists=(build_needs)
((run)) && lists+=(run_needs)
report=$(check "${lists[@]}")
if [[ -n $report ]]; then
	echo "deps: missing (Debian 12's package, what for):" >&2
	echo "$report" >&2
	echo "deps: \`make deps\` installs them (Debian 12, as root);" \
	     "elsewhere install their equivalents." >&2
	exit 1
fi
[[ -n $mk ]] || exit 0

# The Debian 6.1 kernel the VM boots and its module is built against: the
# newest one with both headers and an image.  None is no error for a build
# (`make` uses the running kernel's headers); the VM goals checked above.
kver=
for d in $(ls -d /usr/src/linux-headers-6.1*-amd64 2>/dev/null | sort -V); do
	v=${d#/usr/src/linux-headers-}
	[[ -e /boot/vmlinuz-$v ]] && kver=$v
done
if ((run)) && [[ -z $kver ]]; then
	echo "deps: no Debian 6.1 kernel with both headers" \
	     "(/usr/src/linux-headers-6.1*) and image (/boot/vmlinuz-6.1*)" \
	     "of one version: \`make deps\`" >&2
	exit 1
fi

mkdir -p "$(dirname "$mk")"
tmp=$(mktemp "$mk.XXXXXX")
cat >"$tmp" <<MK
# generated by scripts/deps.sh: the Debian 6.1 kernel on this machine
DEB_KVER := $kver
DEB_KDIR := ${kver:+/usr/src/linux-headers-$kver}
DEB_VMLINUZ := ${kver:+/boot/vmlinuz-$kver}
KSRC_TAR := /usr/src/linux-source-6.1.tar.xz
MK
# Touch the file only when it changed, so make does not restart for nothing.
if cmp -s "$tmp" "$mk"; then rm -f "$tmp"; else mv "$tmp" "$mk"; fi
