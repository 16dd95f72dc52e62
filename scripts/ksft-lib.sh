# SPDX-License-Identifier: GPL-2.0
#
# ksft-lib.sh - run kselftest binaries and count their TAP results.
# POSIX sh: sourced by scripts/ksft-run on the host and inside the busybox
# guest of scripts/vm-run.
#
# Counting unit is the test case (one TAP "ok"/"not ok" line).  A binary
# that dies, times out or exits non-zero without a failing case adds one
# failure under its own name; a binary that prints no TAP at all fails too
# (a suite that ran nothing is a defect, not a pass).  After each binary the
# kernel log written since a mark is searched for splats; a hit is one more
# failure.  Skips (KSFT_SKIP, "ok N ... # SKIP") are counted as skips only.
# Each binary's exit status and wall time follow its output ("# === NAME:
# exit N after S s"): the logs of `make test` show the slow ones.

KSFT_PASS=0
KSFT_FAIL=0
KSFT_SKIP=0
# A hang guard per binary, behind the harness's own per test (TEST_TIMEOUT
# in the Makefile): long enough for a correct run on a loaded machine.
: "${KSFT_TIMEOUT:=1800}"
KSFT_SPLAT='BUG:|WARNING:|Oops|general protection|soft lockup|RCU stall|rcu_sched detected stall|rcu_preempt detected stall|hung task|blocked for more than|Kernel panic|UBSAN:|kernel BUG'

ksft_tmp=$(mktemp -d "${TMPDIR:-/tmp}/ksft.XXXXXX")

# ksft_kmsg_mark NAME: write a mark into the kernel log (if we may).
ksft_kmsg_mark() {
	ksft_mark="sact-ksft: begin $1 $$.$(date +%s)"
	if [ -w /dev/kmsg ]; then
		echo "<7>$ksft_mark" > /dev/kmsg	# debug level: log only
	else
		ksft_mark=
	fi
}

# ksft_kmsg_check NAME: fail NAME if the kernel log since the mark has a splat.
ksft_kmsg_check() {
	[ -n "$ksft_mark" ] || return 0
	dmesg 2>/dev/null | awk -v m="$ksft_mark" 'found; index($0, m) { found = 1 }' \
		> "$ksft_tmp/kmsg"
	if grep -Eq "$KSFT_SPLAT" "$ksft_tmp/kmsg"; then
		echo "not ok - $1: kernel log after it:"
		sed 's/^/#   /' "$ksft_tmp/kmsg" | head -n 60
		KSFT_FAIL=$((KSFT_FAIL + 1))
	fi
}

# ksft_binary PATH [ARGS...]: run one kselftest-harness binary.
ksft_binary() {
	name=$1
	echo "# === $name"
	ksft_kmsg_mark "$name"
	ksft_t0=$(date +%s)
	{ timeout "$KSFT_TIMEOUT" "$@"; echo $? > "$ksft_tmp/rc"; } 2>&1 \
		| tee "$ksft_tmp/out"
	rc=$(cat "$ksft_tmp/rc")
	echo "# === $name: exit $rc after $(($(date +%s) - ksft_t0)) s"
	skip=$(grep -Ec '^ok [0-9]+ .*# SKIP' "$ksft_tmp/out")
	pass=$(grep -Ec '^ok [0-9]+' "$ksft_tmp/out")
	pass=$((pass - skip))
	fail=$(grep -Ec '^not ok [0-9]+' "$ksft_tmp/out")
	if [ "$rc" -eq 4 ] && [ $((pass + skip + fail)) -eq 0 ]; then
		echo "ok - $name # SKIP (exit 4)"
		skip=1
	elif [ $((pass + skip + fail)) -eq 0 ]; then
		echo "not ok - $name: exit $rc and no TAP result"
		fail=1
	elif [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ] && [ "$fail" -eq 0 ]; then
		echo "not ok - $name: exit $rc after its tests (crash or timeout?)"
		fail=1
	fi
	KSFT_PASS=$((KSFT_PASS + pass))
	KSFT_SKIP=$((KSFT_SKIP + skip))
	KSFT_FAIL=$((KSFT_FAIL + fail))
	ksft_kmsg_check "$name"
}

# ksft_check NAME CMD...: one test case that passes iff CMD exits 0.
ksft_check() {
	name=$1
	shift
	ksft_kmsg_mark "$name"
	if "$@"; then
		echo "ok - $name"
		KSFT_PASS=$((KSFT_PASS + 1))
	else
		echo "not ok - $name (exit $?)"
		KSFT_FAIL=$((KSFT_FAIL + 1))
	fi
	ksft_kmsg_check "$name"
}

# ksft_totals: the line scripts/test sums up; exit status says it all.
ksft_totals() {
	rm -rf "$ksft_tmp"
	echo "ksft-totals: pass=$KSFT_PASS fail=$KSFT_FAIL skip=$KSFT_SKIP"
	[ "$KSFT_FAIL" -eq 0 ]
}

# ksft_suite DIR: run every test binary in DIR (executables only), in order.
ksft_suite() {
	for t in "$1"/*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		ksft_binary "$t"
	done
}
