// SPDX-License-Identifier: GPL-2.0

// mixed.go - the Go peer of userspace/bench/mixed.c: goroutines sharing a
// fixed compute, next to goroutines that block in nanosleep(50 us), in
// 1-byte reads from a pipe a writer process fills every 100 us, and in
// fsync of a small file.  Ordinary Go: time.Sleep would park the
// goroutine in the netpoller-timer, not block an M, so the sleep is the
// syscall (syscall.Nanosleep) as in the C version; the pipe is an
// os.File (Go puts pipes in the netpoller: the goroutine parks); fsync is
// (*os.File).Sync.  Go preempts on its own: the compute does not yield.
//
//	build/bench/go/mixed [-c COMPUTE_GS] [-w MROUNDS] [-k PER_KIND] [-d DIR]
//
// GOMAXPROCS from the environment (the harness sets 2).  Prints the same
// line as mixed.c, backend=go.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func threads() int {
	d, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return -1
	}
	return len(d)
}

// sampleThreads counts the process's threads every millisecond until stop
// is closed, then sends the peak.
func sampleThreads(stop chan struct{}, peak chan int) {
	p := 0
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		if n := threads(); n > p {
			p = n
		}
		select {
		case <-stop:
			peak <- p
			return
		case <-t.C:
		}
	}
}

var sink uint64

func compute(n uint64) {
	x := uint64(88172645463325252)
	for i := uint64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	atomic.AddUint64(&sink, x)
}

type env struct {
	pipe   *os.File
	syncf  *os.File
	stop   int32
	ops    int64
	blocks sync.WaitGroup
}

func (e *env) blocker(f func()) {
	e.blocks.Add(1)
	go func() {
		defer e.blocks.Done()
		for atomic.LoadInt32(&e.stop) == 0 {
			f()
			atomic.AddInt64(&e.ops, 1)
		}
	}()
}

// phase runs the compute (with k blockers of each kind if k > 0) and
// returns its duration and the peak thread count.
func phase(e *env, ncompute int, mrounds uint64, k int) (time.Duration, int) {
	stop, peak := make(chan struct{}), make(chan int)
	go sampleThreads(stop, peak)
	atomic.StoreInt32(&e.stop, 0)
	page := make([]byte, 4096)
	for i := 0; i < k; i++ {
		e.blocker(func() {
			ts := syscall.Timespec{Nsec: 50000}
			syscall.Nanosleep(&ts, nil)
		})
		e.blocker(func() {
			b := make([]byte, 1)
			if _, err := e.pipe.Read(b); err != nil {
				panic(err)
			}
		})
		e.blocker(func() {
			if _, err := e.syncf.WriteAt(page, 0); err != nil {
				panic(err)
			}
			if err := e.syncf.Sync(); err != nil {
				panic(err)
			}
		})
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < ncompute; i++ {
		wg.Add(1)
		go func() {
			compute(mrounds * 1000000 / uint64(ncompute))
			wg.Done()
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	atomic.StoreInt32(&e.stop, 1)
	e.blocks.Wait()
	close(stop)
	return d, <-peak
}

func main() {
	ncompute := flag.Int("c", 4, "compute goroutines")
	mrounds := flag.Uint64("w", 200, "million rounds of work in all")
	k := flag.Int("k", 1, "blockers of each kind")
	dir := flag.String("d", "build", "directory for the fsync file")
	flag.Parse()

	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	// The slow writer is this binary again, in a process of its own
	// (its threads are not counted), writing to the pipe on stdout.
	if os.Getenv("MIXED_WRITER") == "1" {
		for {
			if _, err := os.Stdout.Write([]byte{'x'}); err != nil {
				os.Exit(0)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), "MIXED_WRITER=1", "GOMAXPROCS=1")
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	w.Close()
	f, err := os.CreateTemp(*dir, "mixed-fsync.")
	if err != nil {
		panic(err)
	}
	os.Remove(f.Name())
	e := &env{pipe: r, syncf: f}

	alone, tAlone := phase(e, *ncompute, *mrounds, 0)
	mixed, tMixed := phase(e, *ncompute, *mrounds, *k)
	cmd.Process.Kill()
	cmd.Wait()
	fmt.Printf("mixed backend=go nprocs=%d alone_ms=%.1f mixed_ms=%.1f "+
		"isolation=%.3f threads_alone=%d threads_mixed=%d blocker_ops=%d\n",
		runtime.GOMAXPROCS(0), float64(alone)/1e6, float64(mixed)/1e6,
		float64(alone)/float64(mixed), tAlone, tMixed, e.ops)
}
