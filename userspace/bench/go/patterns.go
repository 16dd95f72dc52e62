// SPDX-License-Identifier: GPL-2.0
//
// patterns.go - the Go peer of patterns.c: the same three patterns
// (mutex: 8 goroutines x 100,000 sync.Mutex lock/increment/unlock; chan:
// 1,000,000 int64s through a 128-slot channel; timers: 100,000 goroutines
// each time.Sleep 1 + i % 100 ms), the same output line.
//
//	GOMAXPROCS=2 build/bench/go/patterns -w mutex|chan|timers [-s SCALE]
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"
)

func cswitches() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Nvcsw + ru.Nivcsw
}

func main() {
	w := flag.String("w", "", "mutex, chan or timers")
	scale := flag.Int64("s", 1, "divide the counts by this")
	flag.Parse()
	if *scale < 1 || *scale > 1000 {
		fmt.Fprintln(os.Stderr, "patterns: -s 1..1000")
		os.Exit(2)
	}
	var ops int64
	ok := false
	var late []int64
	var early int64
	cs0 := cswitches()
	t0 := time.Now()
	switch *w {
	case "mutex":
		per := 100000 / *scale
		ops = 8 * per
		var mu sync.Mutex
		var count int64
		var wg sync.WaitGroup
		wg.Add(8)
		for g := 0; g < 8; g++ {
			go func() {
				for i := int64(0); i < per; i++ {
					mu.Lock()
					count++
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		ok = count == ops
	case "chan":
		ops = 1000000 / *scale
		c := make(chan int64, 128)
		go func() {
			for v := int64(0); v < ops; v++ {
				c <- v
			}
			close(c)
		}()
		var sum, got int64
		for v := range c {
			sum += v
			got++
		}
		ok = got == ops && sum == ops*(ops-1)/2
	case "timers":
		ops = 100000 / *scale
		late = make([]int64, ops)
		var wg sync.WaitGroup
		wg.Add(int(ops))
		for i := int64(0); i < ops; i++ {
			go func(i int64) {
				d := time.Duration(1+i%100) * time.Millisecond
				s := time.Now()
				time.Sleep(d)
				late[i] = int64(time.Since(s) - d)
				wg.Done()
			}(i)
		}
		wg.Wait()
		for _, l := range late {
			if l < 0 {
				early++
			}
		}
		ok = early == 0
	default:
		fmt.Fprintln(os.Stderr, "patterns: -w mutex|chan|timers")
		os.Exit(2)
	}
	wall := time.Since(t0)
	cs := cswitches() - cs0
	okv := 0
	if ok {
		okv = 1
	}
	fmt.Printf("patterns wall_ms=%.1f ops=%d ns_per_op=%.1f cs=%d ok=%d",
		float64(wall.Microseconds())/1000, ops,
		float64(wall.Nanoseconds())/float64(ops), cs, okv)
	if late != nil {
		var max int64
		for _, l := range late {
			if l > max {
				max = l
			}
		}
		sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
		fmt.Printf(" late_p50_us=%.1f late_p99_us=%.1f late_max_us=%.1f early=%d",
			float64(late[len(late)/2])/1e3,
			float64(late[int(float64(len(late))*0.99)])/1e3,
			float64(max)/1e3, early)
	}
	fmt.Println()
	if !ok {
		os.Exit(1)
	}
}
