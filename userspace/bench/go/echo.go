// SPDX-License-Identifier: GPL-2.0

// echo.go - the Go peer of userspace/bench/echo_server.c: a TCP echo
// server on loopback, a goroutine per connection, the ordinary way (net:
// the netpoller parks a goroutine whose socket has nothing to read).
// Each connection reads exactly SIZE bytes (io.ReadFull) and writes them
// back, until EOF.  userspace/bench/echo_load.c drives it.
//
//	build/bench/go/echo [-s SIZE] [-P PORT]
//
// GOMAXPROCS from the environment (the harness sets 2).  Prints "port N"
// once it listens, then serves until killed.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func serve(c net.Conn, size int) {
	defer c.Close()
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

func main() {
	size := flag.Int("s", 64, "message size")
	port := flag.Int("P", 0, "port (0: any free one)")
	flag.Parse()

	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(1)
		}
		go serve(c, *size)
	}
}
