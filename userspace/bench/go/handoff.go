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
// -w loop, "raw loop, woken by a plain thread" (as handoff.c -w loop):
// goroutine A loops over syscall.Read of one byte from a pipe; a plain
// pthread (cgo, outside Go's scheduler: a C library's callback thread)
// writes that byte -t microseconds after A said it entered the read;
// goroutine B loops over runtime.Gosched().  A block counts as handed off
// when B runs while A is in it; latency = B's first run in it - A's stamp.
//
//	build/bench/go/handoff [-n SAMPLES] [-w spawn|loop] [-t PERIOD_US]
//
// spawn prints p50/p99/p999 in microseconds and the OS threads the process
// has before and after (Go creates Ms for the handoffs); loop prints one
// "rawloop key=value" line like handoff.c's (Go's count of Ps moved is not
// exposed: no handoffs field).
package main

/*
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

// -w loop's plain thread: one byte per block of A, period_us after A said
// it entered it (a_in: A's block number while in it, else 0).
struct loopw {
	long a_in;
	int done;
	int fd;
	long period_us;
};

static void *loop_writer(void *arg)
{
	struct loopw *w = arg;
	long written = 0;

	while (!__atomic_load_n(&w->done, __ATOMIC_RELAXED)) {
		long i = __atomic_load_n(&w->a_in, __ATOMIC_ACQUIRE);

		if (i && i != written) {
			usleep(w->period_us);
			if (write(w->fd, "x", 1) != 1)
				abort();
			written = i;
		} else {
			usleep(50);
		}
	}
	return NULL;
}

static int loop_writer_start(struct loopw *w, pthread_t *t)
{
	return pthread_create(t, NULL, loop_writer, w);
}

static void loop_writer_stop(struct loopw *w, pthread_t t)
{
	__atomic_store_n(&w->done, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
}
*/
import "C"

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
	"unsafe"
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

// loop runs -w loop: n blocks of A, woken by the plain thread.
func loop(p [2]int, n int, period int) {
	w := (*C.struct_loopw)(C.calloc(1, C.sizeof_struct_loopw))
	w.fd = C.int(p[1])
	w.period_us = C.long(period)
	ain := (*int64)(unsafe.Pointer(&w.a_in))
	var t C.pthread_t
	if C.loop_writer_start(w, &t) != 0 {
		fmt.Fprintln(os.Stderr, "pthread_create failed")
		os.Exit(1)
	}
	enter := make([]int64, n)
	lat := make([]int64, n)
	for i := range lat {
		lat[i] = -1
	}
	var done int32
	fin := make(chan bool)
	go func() { // B
		last := int64(0)
		for atomic.LoadInt32(&done) == 0 {
			if i := atomic.LoadInt64(ain); i != 0 && i != last {
				lat[i-1] = now() - enter[i-1]
				last = i
			}
			runtime.Gosched()
		}
		fin <- true
	}()
	go func() { // A
		buf := make([]byte, 1)
		for i := 1; i <= n; i++ {
			enter[i-1] = now()
			atomic.StoreInt64(ain, int64(i))
			if k, err := syscall.Read(p[0], buf); k != 1 || err != nil {
				fmt.Fprintln(os.Stderr, "read:", k, err)
				os.Exit(1)
			}
			atomic.StoreInt64(ain, 0)
		}
		atomic.StoreInt32(&done, 1)
		fin <- true
	}()
	<-fin
	<-fin
	C.loop_writer_stop(w, t)
	var v []float64
	for _, l := range lat {
		if l >= 0 {
			v = append(v, float64(l)/1e3)
		}
	}
	sort.Float64s(v)
	fmt.Printf("rawloop runtime=go call=wrapped blocks=%d handed=%d "+
		"handed_pct=%.1f p50_us=%.1f p99_us=%.1f p999_us=%.1f "+
		"threads=%s\n", n, len(v), 100*float64(len(v))/float64(n),
		pct(v, 0.50), pct(v, 0.99), pct(v, 0.999), threads())
}

func main() {
	n := flag.Int("n", 10000, "samples")
	wl := flag.String("w", "spawn", "workload: spawn or loop")
	period := flag.Int("t", 2000, "loop: the writer's delay, microseconds")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(1)
	}
	switch *wl {
	case "loop":
		loop(p, *n, *period)
		return
	case "spawn":
	default:
		fmt.Fprintln(os.Stderr, "-w spawn|loop")
		os.Exit(2)
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
