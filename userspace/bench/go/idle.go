// SPDX-License-Identifier: GPL-2.0
//
// idle.go - the Go peer of idle.c: one goroutine asleep, nothing else.
//
//	GOMAXPROCS=2 build/bench/go/idle [-s SECONDS]
//
// Prints "idle ready" once main runs, then sleeps SECONDS (default 2)
// with time.Sleep and exits 0.  Built with cgo like every Go peer here;
// it links no package that uses cgo, so it is the pure-Go figure.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	secs := flag.Int("s", 2, "seconds asleep")
	flag.Parse()
	fmt.Println("idle ready")
	os.Stdout.Sync()
	time.Sleep(time.Duration(*secs) * time.Second)
}
