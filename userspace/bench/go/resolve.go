// SPDX-License-Identifier: GPL-2.0

// resolve.go - the Go peer of userspace/bench/resolve.c: N lookups at
// once, a goroutine each, against the slow DNS server of
// userspace/bench/dns-ns.
//
//	GODEBUG=netdns=cgo build/bench/go/resolve [-n N] [-sleep]
//	build/bench/go/resolve-netgo [-n N] [-sleep]
//
// Each goroutine resolves "hI.sact.test" (IPv4: getaddrinfo with AF_INET
// under cgo, one A query in pure Go); an answer other than 127.0.0.2 is
// counted as failed.  Go picks its own resolver even in a cgo build:
// GODEBUG=netdns=cgo makes it call getaddrinfo (on a thread of its own
// per lookup in progress, at most 500 at once in Go 1.19).  -sleep: each
// goroutine calls nanosleep(100 ms) as a system call instead (Go retakes
// the P and starts another thread).  Prints the line resolve.c prints:
//
//	libc n=N wall_ms=.. threads=.. vsz_kib=.. rss_kib=.. failed=..
//
// threads: the peak, sampled every ms; vsz/rss: VmPeak and VmHWM.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
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

// status returns a "Vm...:" field of /proc/self/status in KiB, or -1.
func status(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var v int64
		if strings.HasPrefix(s.Text(), key+":") &&
			func() bool { _, e := fmt.Sscanf(s.Text()[len(key)+1:], "%d", &v); return e == nil }() {
			return v
		}
	}
	return -1
}

func main() {
	n := flag.Int("n", 100, "lookups at once")
	sleep := flag.Bool("sleep", false, "nanosleep(100 ms) instead")
	flag.Parse()

	var failed int64
	var peak int
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if c := threads(); c > peak {
				peak = c
			}
			select {
			case <-stop:
				close(sampled)
				return
			case <-t.C:
			}
		}
	}()

	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if *sleep {
				ts := syscall.NsecToTimespec(int64(100 * time.Millisecond))
				syscall.Nanosleep(&ts, nil)
				return
			}
			ips, err := net.DefaultResolver.LookupIP(context.Background(),
				"ip4", fmt.Sprintf("h%d.sact.test", i))
			if err != nil || len(ips) != 1 || !ips[0].Equal(net.IPv4(127, 0, 0, 2)) {
				atomic.AddInt64(&failed, 1)
			}
		}(i)
	}
	wg.Wait()
	wall := time.Since(t0)
	close(stop)
	<-sampled
	fmt.Printf("libc n=%d wall_ms=%.1f threads=%d vsz_kib=%d rss_kib=%d failed=%d\n",
		*n, float64(wall.Microseconds())/1000, peak, status("VmPeak"),
		status("VmHWM"), failed)
}
