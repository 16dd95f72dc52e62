// SPDX-License-Identifier: GPL-2.0

// ex1.go - Go's hello-world web server, net/http's first example, the
// peer of userspace/demos/httpd.c:
//
//	http.HandleFunc("/bar", func(w http.ResponseWriter, r *http.Request) {
//		fmt.Fprintf(w, "Hello, %q", html.EscapeString(r.URL.Path))
//	})
//	log.Fatal(http.ListenAndServe(":8080", nil))
//
// Two changes, both for the benchmark: it listens on 127.0.0.1 only, on
// the port -P says (0: any free one), and says "listening on
// 127.0.0.1:PORT" once it accepts.  -all serves every path (a handler on
// "/"), as httpd does, for comparing the greetings byte by byte.
//
//	build/bench/go/ex1 [-P PORT] [-all]        (cgo: the default build)
//	build/bench/go/ex1-netgo [-P PORT] [-all]  (CGO_ENABLED=0, -tags netgo)
//
// GOMAXPROCS from the environment (the benchmark sets 2).
package main

import (
	"flag"
	"fmt"
	"html"
	"log"
	"net"
	"net/http"
)

func main() {
	port := flag.Int("P", 8080, "port (0: any free one)")
	all := flag.Bool("all", false, `serve every path (a handler on "/")`)
	flag.Parse()

	pattern := "/bar"
	if *all {
		pattern = "/"
	}
	http.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello, %q", html.EscapeString(r.URL.Path))
	})
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", l.Addr())
	log.Fatal(http.Serve(l, nil))
}
