package disk_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gokernel/gokernel/disk"
)

// checkDevice writes and reads d at random offsets and lengths (sector
// multiples and odd ones), with every upgrade d has, and compares each read
// with a model of what the device must hold, which starts as want (d's
// contents now). Then many goroutines read and write disjoint stripes at
// once (run it under -race). It leaves the model in want.
func checkDevice(t *testing.T, d disk.Device, want []byte) {
	t.Helper()
	if d.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", d.Size(), len(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	size := int64(len(want))
	span := func() (int64, int) {
		if rng.IntN(2) == 0 { // sector-aligned, as the kernel sends
			n := 512 * (1 + rng.IntN(64))
			n = int(min(int64(n), size))
			return 512 * rng.Int64N((size-int64(n))/512+1), n
		}
		n := 1 + rng.IntN(10000)
		n = int(min(int64(n), size))
		return rng.Int64N(size - int64(n) + 1), n
	}
	verify := func(what string, off int64, n int) {
		t.Helper()
		got := make([]byte, n)
		if k, err := d.ReadAt(got, off); err != nil || k != n {
			t.Fatalf("%s: ReadAt(%d bytes at %d) = %d, %v", what, n, off, k, err)
		}
		if !bytes.Equal(got, want[off:off+int64(n)]) {
			t.Fatalf("%s: ReadAt(%d bytes at %d) differs from what was written", what, n, off)
		}
	}
	for i := range 300 {
		off, n := span()
		switch op := rng.IntN(6); {
		case op == 0:
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			if k, err := d.WriteAt(p, off); err != nil || k != n {
				t.Fatalf("op %d: WriteAt(%d bytes at %d) = %d, %v", i, n, off, k, err)
			}
			copy(want[off:], p)
		case op == 1:
			if z, ok := d.(disk.ZeroWriter); ok {
				if err := z.WriteZeroes(off, int64(n)); err != nil {
					t.Fatalf("op %d: WriteZeroes(%d, %d): %v", i, off, n, err)
				}
				clear(want[off : off+int64(n)])
			}
		case op == 2:
			if v, ok := d.(disk.VectorWriter); ok {
				bufs := split(rng, make([]byte, n))
				for _, b := range bufs {
					for j := range b {
						b[j] = byte(rng.Uint32())
					}
				}
				if k, err := v.WritevAt(bufs, off); err != nil || k != n {
					t.Fatalf("op %d: WritevAt(%d bytes at %d) = %d, %v", i, n, off, k, err)
				}
				copy(want[off:], bytes.Join(bufs, nil))
			}
		case op == 3:
			if v, ok := d.(disk.VectorReader); ok {
				p := make([]byte, n)
				if k, err := v.ReadvAt(split(rng, p), off); err != nil || k != n {
					t.Fatalf("op %d: ReadvAt(%d bytes at %d) = %d, %v", i, n, off, k, err)
				}
				if !bytes.Equal(p, want[off:off+int64(n)]) {
					t.Fatalf("op %d: ReadvAt(%d bytes at %d) differs from what was written", i, n, off)
				}
			}
		default:
			verify("random read", off, n)
		}
	}
	verify("whole device", 0, len(want))

	// Past the end: io.EOF with the bytes that are there.
	p := make([]byte, 1024)
	if n, err := d.ReadAt(p, size-512); n != 512 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v; want 512, io.EOF", n, err)
	}

	// Many goroutines, each on its own stripe, writing then reading back.
	const workers = 16
	stripe := size / workers / 512 * 512
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			base := int64(w) * stripe
			for range 40 {
				n := int64(512 * (1 + rng.IntN(8)))
				if n > stripe {
					n = stripe
				}
				off := base + 512*rng.Int64N((stripe-n)/512+1)
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(rng.Uint32())
				}
				if _, err := d.WriteAt(p, off); err != nil {
					errs <- err
					return
				}
				got := make([]byte, n)
				if _, err := d.ReadAt(got, off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, p) {
					errs <- errors.New("concurrent read differs from the write just before it")
					return
				}
				copy(want[off:], p) // stripes are disjoint: no race on want
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	verify("whole device after concurrent writes", 0, len(want))
}

// split cuts p into 1 to 4 consecutive buffers (some may be empty).
func split(rng *rand.Rand, p []byte) [][]byte {
	var bufs [][]byte
	for range rng.IntN(3) {
		k := rng.IntN(len(p) + 1)
		bufs = append(bufs, p[:k])
		p = p[k:]
	}
	return append(bufs, p)
}
