package unet_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/unet"
)

// An impl is one network under comparison: impl=net is the standard
// library (the reference), impl=unet unet on the host kernel,
// impl=unet-loop unet on the host bound to a running eloop.Loop
// (Options.Loop), impl=unet-lkl unet on LKL's loopback (in binaries built
// with -tags lkl).
type impl struct {
	name   string
	listen func(network, address string) (net.Listener, error)
	dial   func(network, address string) (net.Conn, error)
	stack  *unet.Stack // nil for net
}

func benchImpls(b *testing.B) []impl {
	impls := []impl{{name: "net", listen: net.Listen, dial: net.Dial}}
	for _, kname := range kerneltest.Kernels() {
		k, _ := kerneltest.Lookup(b, kname)
		s, err := unet.New(k, unet.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		name := "unet"
		if kname != "host" {
			name += "-" + kname
		}
		impls = append(impls, impl{name: name, listen: s.Listen, dial: s.Dial, stack: s})
		if kname == "host" {
			ls := newLoopStack(b, k)
			impls = append(impls, impl{name: "unet-loop", listen: ls.Listen, dial: ls.Dial, stack: ls})
		}
	}
	return impls
}

// latencies collects per-op times from parallel goroutines and reports
// p50 and p99.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	b.ReportMetric(float64(l.all[len(l.all)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l.all[len(l.all)*99/100].Nanoseconds()), "p99-ns")
}

// timedLoop runs op until next says stop and records each op's time in
// lat; an error fails the benchmark.
func timedLoop(b *testing.B, lat *latencies, next func() bool, op func() error) {
	ds := make([]time.Duration, 0, 1024)
	for next() {
		t0 := time.Now()
		if err := op(); err != nil {
			b.Error(err)
			break
		}
		ds = append(ds, time.Since(t0))
	}
	lat.add(ds)
}

// parallel runs b.N ops on exactly n goroutines (b.RunParallel runs a
// multiple of GOMAXPROCS); each calls next before every op.
func parallel(b *testing.B, n int, body func(next func() bool)) {
	var left atomic.Int64
	left.Store(int64(b.N))
	next := func() bool { return left.Add(-1) >= 0 }
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { body(next) })
	}
	wg.Wait()
}

// echoServer echoes on every connection ln accepts until ln closes.
func echoServer(b *testing.B, ln net.Listener) {
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			})
		}
	})
}

// BenchmarkEcho measures net.Conn round trips: each op writes a message
// and reads its echo back, on 1 connection or 64 in parallel, client and
// server both of the impl, over loopback.
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 16 << 10} {
		for _, conns := range []int{1, 64} {
			for _, im := range benchImpls(b) {
				b.Run(fmt.Sprintf("size=%d/conns=%d/impl=%s", size, conns, im.name), func(b *testing.B) {
					ln, err := im.listen("tcp", "127.0.0.1:0")
					if err != nil {
						b.Fatal(err)
					}
					echoServer(b, ln)
					cs := make(chan net.Conn, conns)
					for range conns {
						c, err := im.dial("tcp", ln.Addr().String())
						if err != nil {
							b.Fatal(err)
						}
						defer c.Close()
						cs <- c
					}
					var lat latencies
					b.SetBytes(int64(size))
					b.ReportAllocs()
					b.ResetTimer()
					parallel(b, conns, func(next func() bool) {
						c := <-cs
						out, in := make([]byte, size), make([]byte, size)
						timedLoop(b, &lat, next, func() error {
							if _, err := c.Write(out); err != nil {
								return err
							}
							_, err := io.ReadFull(c, in)
							return err
						})
					})
					b.StopTimer()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
					lat.report(b)
				})
			}
		}
	}
}

// BenchmarkHTTP measures net/http requests with keep-alive: GET of a
// 1 KiB body from 1 client or 50 in parallel, server and client dialing
// both of the impl.
func BenchmarkHTTP(b *testing.B) {
	body := make([]byte, 1024)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	for _, clients := range []int{1, 50} {
		for _, im := range benchImpls(b) {
			b.Run(fmt.Sprintf("clients=%d/impl=%s", clients, im.name), func(b *testing.B) {
				ln, err := im.listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				srv := &http.Server{Handler: handler}
				go srv.Serve(ln)
				defer srv.Close()
				tr := &http.Transport{MaxIdleConnsPerHost: clients}
				if im.stack != nil {
					tr.DialContext = im.stack.DialContext
				}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				url := "http://" + ln.Addr().String() + "/"
				var lat latencies
				b.ReportAllocs()
				b.ResetTimer()
				parallel(b, clients, func(next func() bool) {
					buf := make([]byte, 2048)
					timedLoop(b, &lat, next, func() error {
						resp, err := client.Get(url)
						if err != nil {
							return err
						}
						n, _ := io.ReadFull(resp.Body, buf[:len(body)])
						resp.Body.Close()
						if n != len(body) {
							return fmt.Errorf("body of %d bytes", n)
						}
						return nil
					})
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
				lat.report(b)
			})
		}
	}
}

// BenchmarkDial measures connection set-up and tear-down: dial, accept,
// close both ends.
func BenchmarkDial(b *testing.B) {
	for _, im := range benchImpls(b) {
		b.Run("impl="+im.name, func(b *testing.B) {
			ln, err := im.listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			b.ReportAllocs()
			for b.Loop() {
				c1, c2, err := connPair(b, ln, func() (net.Conn, error) { return im.dial("tcp", ln.Addr().String()) })
				if err != nil {
					b.Fatal(err)
				}
				c1.Close()
				c2.Close()
			}
		})
	}
}
