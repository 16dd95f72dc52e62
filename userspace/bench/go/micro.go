// SPDX-License-Identifier: GPL-2.0
//
// micro.go - the Go peers of userspace/bench/micro.c: the same workloads,
// printed the same way ("name ns/op").  Run with GOMAXPROCS=1 by
// userspace/bench/bench-micro; -n scales the counts.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func benchYield(n int) {
	var wg sync.WaitGroup
	wg.Add(1)
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		wg.Done()
	}()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	d := time.Since(t0)
	wg.Wait()
	fmt.Printf("yield %.1f\n", float64(d.Nanoseconds())/float64(2*n))
}

func benchSpawn(n int) {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i += 100 {
		for j := 0; j < 100; j++ {
			wg.Add(1)
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	fmt.Printf("spawn %.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
}

func benchChan(n int) {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	fmt.Printf("chan %.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
	close(ping)
}

func benchSyscall(n int) {
	best := 1e9
	for round := 0; round < 40; round++ {
		t0 := time.Now()
		for i := 0; i < n/40; i++ {
			// Syscall, not RawSyscall (what syscall.Getppid uses):
			// the peer of sact_syscall enters and exits the
			// scheduler's syscall state
			syscall.Syscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
		d := float64(time.Since(t0).Nanoseconds()) / float64(n/40)
		if d < best {
			best = d
		}
	}
	fmt.Printf("syscall_wrapped %.1f\n", best)
}

func main() {
	scale := flag.Int("n", 1, "scale the counts")
	flag.Parse()
	benchYield(2000000 * *scale)
	benchSpawn(1000000 * *scale)
	benchChan(1000000 * *scale)
	benchSyscall(1000000 * *scale)
}
