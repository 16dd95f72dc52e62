// SPDX-License-Identifier: GPL-2.0

// handoff.go - the Go peer of userspace/bench/bpf_handoff.c: how long Go's
// runtime takes to hand the only P to another M when the running goroutine
// blocks in the kernel.
//
// Workload (one sample), GOMAXPROCS=1: G1 makes G2 runnable, stamps the
// time and blocks in a raw read (syscall.Read: entersyscall/exitsyscall
// around read(2)) on an empty pipe.  G2 can only run once sysmon notices
// the P stuck in a syscall, retakes it and starts another M (thread) for
// it.  G2's first instruction stamps the time, then G2 - on the M that took
// the P over, another OS thread than G1's - fills the pipe so G1 comes back.
// Latency = G2's stamp - G1's stamp (monotonic clock).
//
//	build/bench/go/handoff [-n SAMPLES]
//
// Prints p50/p99/p999 in microseconds and the OS threads the process has
// before and after (Go creates Ms for the handoffs).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var base = time.Now()

// now: monotonic nanoseconds since start (time.Since uses the monotonic
// clock reading).
func now() int64 { return int64(time.Since(base)) }

func threads() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "Threads:") {
			return strings.TrimSpace(strings.TrimPrefix(s.Text(), "Threads:"))
		}
	}
	return "?"
}

func pct(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[int(q*float64(len(v)-1)+0.5)]
}

func main() {
	n := flag.Int("n", 10000, "samples")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(1)
	}
	before := threads()
	lat := make([]float64, 0, *n)
	var t0 int64
	done := make(chan float64, 1)
	buf := make([]byte, 1)

	for i := 0; i < *n; i++ {
		// G2: runnable before G1 blocks; its first statement is the stamp.
		// It reports only after its write(2) has returned: otherwise
		// its M, coming back from that syscall while G1 is already in
		// the next read, would take the P at once (exitsyscall steals
		// a P in _Psyscall) and the next sample would measure that,
		// not a handoff.
		go func() {
			t1 := now()
			syscall.Write(p[1], []byte{'x'})
			done <- float64(t1-atomic.LoadInt64(&t0)) / 1e3
		}()
		atomic.StoreInt64(&t0, now())
		if k, err := syscall.Read(p[0], buf); k != 1 || err != nil {
			fmt.Fprintln(os.Stderr, "read:", k, err)
			os.Exit(1)
		}
		lat = append(lat, <-done)
	}
	sort.Float64s(lat)
	fmt.Printf("go %s handoff latency, GOMAXPROCS=1, %d samples (us): "+
		"p50 %.1f p99 %.1f p999 %.1f; OS threads %s -> %s\n",
		runtime.Version(), len(lat), pct(lat, 0.50), pct(lat, 0.99),
		pct(lat, 0.999), before, threads())
}
