package disk_test

import (
	"bytes"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gokernel/gokernel/disk"
)

// faulty fails its reads with EIO while failing is set.
type faulty struct {
	disk.Device
	failing atomic.Bool
}

func (f *faulty) ReadAt(p []byte, off int64) (int, error) {
	if f.failing.Load() {
		return 0, syscall.EIO
	}
	return f.Device.ReadAt(p, off)
}

// TestDeviceErrors: a failing device's error reaches the caller of the
// device over it, and nothing is lost or remembered wrongly: once the
// device heals, every byte is right.
func TestDeviceErrors(t *testing.T) {
	m, data := randomMemory(t, 1<<20)
	for _, tc := range []struct {
		name string
		over func(d disk.Device) disk.Device
	}{
		{"overlay", func(d disk.Device) disk.Device { return disk.NewOverlay(d) }},
		{"cache", func(d disk.Device) disk.Device { return disk.NewCache(d, &disk.CacheOptions{BlockSize: 4096}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := &faulty{Device: m}
			d := tc.over(base)
			want := bytes.Clone(data)
			base.failing.Store(true)
			if _, err := d.ReadAt(make([]byte, 4096), 8192); !errors.Is(err, syscall.EIO) {
				t.Fatalf("ReadAt on a failing device = %v, want EIO", err)
			}
			// A write into part of a block needs the block from the base.
			_, err := d.WriteAt([]byte("partial"), 100)
			if ov, ok := d.(*disk.Overlay); ok {
				if !errors.Is(err, syscall.EIO) || len(ov.Extents()) != 0 {
					t.Fatalf("partial-block write over a failing base = %v, extents %v; want EIO and none", err, ov.Extents())
				}
			} else if err != nil {
				t.Fatal(err) // the cache writes through without reading
			} else {
				copy(want[100:], "partial")
			}
			base.failing.Store(false)
			got := make([]byte, len(want))
			if _, err := d.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("after the device healed: %v; equal %v", err, bytes.Equal(got, want))
			}
		})
	}
}
