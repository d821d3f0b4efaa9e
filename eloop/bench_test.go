package eloop_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
)

// benchLoop runs a Loop on kernel name for the benchmark.
func benchLoop(b *testing.B, name string, opts eloop.Options) *eloop.Loop {
	k, _ := kerneltest.Lookup(b, name)
	l, err := eloop.New(k, opts)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	b.Cleanup(func() {
		l.Stop()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return l
}

// BenchmarkTimers measures timer throughput: each op schedules 64 timers
// with zero delay from the loop and waits until all have fired.
func BenchmarkTimers(b *testing.B) {
	for _, kname := range kerneltest.Kernels() {
		b.Run("kernel="+kname, func(b *testing.B) {
			l := benchLoop(b, kname, eloop.Options{})
			const batch = 64
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				wg.Add(batch)
				l.Post(func() {
					for range batch {
						l.AfterFunc(0, wg.Done)
					}
				})
				wg.Wait()
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "timers/s")
		})
	}
}

// BenchmarkPool compares the worker pool with a goroutine per task, for
// tiny tasks whose result comes back on the loop (impl=goroutine is the
// reference: go func() { r := work(); l.Post(done(r)) }).
func BenchmarkPool(b *testing.B) {
	work := func(context.Context) (any, error) { return 1, nil }
	b.Run("impl=goroutine", func(b *testing.B) {
		l := benchLoop(b, "host", eloop.Options{})
		var wg sync.WaitGroup
		b.ReportAllocs()
		for b.Loop() {
			wg.Add(1)
			go func() {
				v, err := work(context.Background())
				l.Post(func() { _, _ = v, err; wg.Done() })
			}()
		}
		wg.Wait()
	})
	b.Run("impl=pool", func(b *testing.B) {
		l := benchLoop(b, "host", eloop.Options{})
		var wg sync.WaitGroup
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			wg.Add(1)
			if err := l.Submit(ctx, work, func(any, error) { wg.Done() }); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	})
}
