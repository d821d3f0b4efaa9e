package aio_test

import (
	"testing"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// eachKernel runs f as a sub-benchmark per kernel this binary has
// (kernel=host, kernel=lkl).
func eachKernel(b *testing.B, f func(b *testing.B, k sys.Kernel)) {
	for _, name := range kerneltest.Kernels() {
		b.Run("kernel="+name, func(b *testing.B) {
			k, _ := kerneltest.Lookup(b, name)
			f(b, k)
		})
	}
}

// BenchmarkWait makes a pipe readable, has Wait(0) report it and drains
// it, per op: one write, one epoll_pwait, one read.
func BenchmarkWait(b *testing.B) {
	eachKernel(b, func(b *testing.B, k sys.Kernel) {
		lc := libgo.New(k)
		p := newPoller(b, k)
		fds, _ := pipe(b, lc)
		if err := p.Add(fds[0], aio.Read, 1); err != nil {
			b.Fatal(err)
		}
		events := make([]aio.Event, 8)
		buf := make([]byte, 1)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := lc.Write(fds[1], buf); err != nil {
				b.Fatal(err)
			}
			if n, err := p.Wait(events, 0); n != 1 || err != nil {
				b.Fatalf("Wait = %d, %v", n, err)
			}
			if _, err := lc.Read(fds[0], buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWake wakes the poller and lets Wait(-1) take the wake, per op:
// one eventfd write, one epoll_pwait, one eventfd read.
func BenchmarkWake(b *testing.B) {
	eachKernel(b, func(b *testing.B, k sys.Kernel) {
		p := newPoller(b, k)
		events := make([]aio.Event, 8)
		b.ReportAllocs()
		for b.Loop() {
			if err := p.Wake(); err != nil {
				b.Fatal(err)
			}
			for aio.WakeSig(p) != 0 { // a signal may end a Wait before it drains
				if _, err := p.Wait(events, -1); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkWakeBlocked measures what a loop waiting in another goroutine
// sees: per op, one goroutine wakes a Wait(-1) blocked in the kernel in
// another, and waits until it has returned. On LKL this is a task woken by
// another thread's system call, which used to wait for LKL's next timer
// tick (third_party/lkl fix 12, CONFIG_GOKERNEL_RUN_WOKEN).
func BenchmarkWakeBlocked(b *testing.B) {
	eachKernel(b, func(b *testing.B, k sys.Kernel) {
		wk := newWatchKernel(k)
		p := newPoller(b, wk)
		ready, done := make(chan struct{}), make(chan error)
		go func() {
			events := make([]aio.Event, 8)
			for range ready {
				_, err := p.Wait(events, -1)
				done <- err
			}
		}()
		defer close(ready)
		for b.Loop() {
			ready <- struct{}{}
			<-wk.blocking // the waiter is entering epoll_pwait
			if err := p.Wake(); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	})
}
