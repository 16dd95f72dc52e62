// SPDX-License-Identifier: GPL-2.0

// fileio.go - the Go peer of userspace/bench/fileio.c: G goroutines share
// N random 4 KiB reads of a file opened O_DIRECT, with (*os.File).ReadAt
// (a blocking pread: the goroutine's M blocks, sysmon hands its P on and
// Go starts Ms as needed).
//
//	build/bench/go/fileio -f FILE [-g READERS] [-n READS]
//
// GOMAXPROCS from the environment (the harness sets 2).  Prints the same
// line as fileio.c, mode=readat backend=go.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const bs = 4096

func threads() int {
	d, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return -1
	}
	return len(d)
}

// aligned returns a bs-byte slice at a bs-aligned address (O_DIRECT).
func aligned() []byte {
	b := make([]byte, 2*bs)
	off := bs - int(uintptr(unsafe.Pointer(&b[0]))%bs)
	return b[off%bs : off%bs+bs]
}

func main() {
	path := flag.String("f", "", "file to read")
	ngs := flag.Int("g", 64, "concurrent readers")
	nreads := flag.Int("n", 20000, "reads in all")
	flag.Parse()

	f, err := os.OpenFile(*path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	st, err := f.Stat()
	if err != nil || st.Size() < bs {
		fmt.Fprintln(os.Stderr, "fileio: bad file", err)
		os.Exit(1)
	}
	nblocks := uint64(st.Size() / bs)
	per := *nreads / *ngs
	lat := make([]time.Duration, per**ngs)

	peak, stop := 0, make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if n := threads(); n > peak {
				peak = n
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
	var failed int32
	t0 := time.Now()
	for i := 0; i < *ngs; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			buf := aligned()
			x := 0x9e3779b97f4a7c15 * uint64(i+1)
			for k := i * per; k < (i+1)*per; k++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				t := time.Now()
				n, err := f.ReadAt(buf, int64(x%nblocks)*bs)
				lat[k] = time.Since(t)
				if n != bs || err != nil {
					atomic.StoreInt32(&failed, 1)
				}
			}
		}(i)
	}
	wg.Wait()
	d := time.Since(t0)
	close(stop)
	<-sampled
	if failed != 0 {
		fmt.Fprintln(os.Stderr, "fileio: reads failed")
		os.Exit(1)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	n := len(lat)
	fmt.Printf("fileio mode=readat backend=go gs=%d ops_per_s=%.0f "+
		"p50_us=%.1f p99_us=%.1f threads=%d\n", *ngs,
		float64(n)/d.Seconds(), float64(lat[n/2])/1e3,
		float64(lat[n*99/100])/1e3, peak)
}
