// SPDX-License-Identifier: GPL-2.0
//
// fanout.go - the Go peer of fanout.c: one goroutine starts N goroutines
// (go func in a loop), each adds its index to an atomic and exits; a
// sync.WaitGroup waits for them.
//
//	GOMAXPROCS=2 build/bench/go/fanout [-n N] [-w exit|park]
//
// Prints "fanout wall_ms= rss_peak_kib= minflt= sum_ok=
// [parked_kib_per_g=]" as fanout.c does (getrusage of the process; Go
// has no count of goroutines alive at once, so no gs_peak).  -w park:
// each goroutine parks on a channel until all are made; the RSS they
// added (/proc/self/statm) / N.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var pages, rss int64
	fmt.Sscan(string(b), &pages, &rss)
	return rss * int64(os.Getpagesize()) / 1024
}

func main() {
	n := flag.Int64("n", 200000, "goroutines")
	w := flag.String("w", "exit", "exit or park")
	flag.Parse()
	park := *w == "park"
	if !park && *w != "exit" {
		fmt.Fprintln(os.Stderr, "fanout: -w exit|park")
		os.Exit(2)
	}
	var sum, parked int64
	var wg sync.WaitGroup
	c := make(chan struct{})
	var before, after int64
	if park {
		before = rssKiB()
	}
	t0 := time.Now()
	wg.Add(int(*n))
	for i := int64(0); i < *n; i++ {
		go func(i int64) {
			atomic.AddInt64(&sum, i)
			if park {
				atomic.AddInt64(&parked, 1)
				<-c
			}
			wg.Done()
		}(i)
	}
	if park {
		for atomic.LoadInt64(&parked) < *n {
			runtime.Gosched()
		}
		after = rssKiB()
		close(c)
	}
	wg.Wait()
	wall := time.Since(t0)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	ok := sum == *n*(*n-1)/2
	okv := 0
	if ok {
		okv = 1
	}
	fmt.Printf("fanout wall_ms=%.1f rss_peak_kib=%d minflt=%d sum_ok=%d",
		float64(wall.Microseconds())/1000, ru.Maxrss, ru.Minflt, okv)
	if park {
		fmt.Printf(" parked_kib_per_g=%.2f", float64(after-before)/float64(*n))
	}
	fmt.Println()
	if !ok {
		os.Exit(1)
	}
}
