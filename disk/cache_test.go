package disk_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokernel/gokernel/disk"
)

// counting counts a device's reads, and can make each one slow.
type counting struct {
	disk.Device
	reads atomic.Int64
	delay time.Duration
}

func (c *counting) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	return c.Device.ReadAt(p, off)
}

func randomMemory(t testing.TB, size int64) (*disk.Memory, []byte) {
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(8, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	m := disk.NewMemory(size)
	m.WriteAt(data, 0)
	return m, data
}

func TestCache(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *disk.CacheOptions
	}{
		{"defaults", nil},
		{"small blocks, tiny cache", &disk.CacheOptions{BlockSize: 4096, MaxBytes: 64 << 10, ReadAhead: 32 << 10}},
		{"no read-ahead", &disk.CacheOptions{BlockSize: 8192, MaxBytes: 1 << 20, ReadAhead: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, data := randomMemory(t, 4<<20+512)
			c := disk.NewCache(m, tc.opts)
			checkDevice(t, c, data)
			// What the cache shows is what the device holds.
			got := make([]byte, len(data))
			m.ReadAt(got, 0)
			if !bytes.Equal(got, data) {
				t.Fatal("the device under the cache differs from the model: a write did not go through")
			}
			max := int64(32 << 20)
			if tc.opts != nil {
				max = tc.opts.MaxBytes
			}
			if s := c.Stats(); s.Cached > max {
				t.Fatalf("the cache holds %d bytes, more than MaxBytes %d", s.Cached, max)
			}
		})
	}
}

// TestCacheCoalesces reads a device 1 KiB at a time, as ext4 reads its
// inode tables: the device sees a few large reads.
func TestCacheCoalesces(t *testing.T) {
	const size = 8 << 20
	m, data := randomMemory(t, size)
	dev := &counting{Device: m}
	c := disk.NewCache(dev, &disk.CacheOptions{MaxBytes: 2 << 20}) // smaller than the disk: blocks are evicted
	p := make([]byte, 1024)
	for off := int64(0); off < size; off += 1024 {
		if _, err := c.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, data[off:off+1024]) {
			t.Fatalf("read at %d differs", off)
		}
	}
	s := c.Stats()
	// 8 MiB in 64 KiB blocks is 128 blocks; read-ahead makes it fewer reads.
	if got := dev.reads.Load(); got > 128/4 || s.DevBytes != size {
		t.Fatalf("8192 sequential 1 KiB reads made %d device reads of %d bytes in all; want at most 32 reads of exactly %d bytes (stats %+v)", got, s.DevBytes, size, s)
	}
	if s.Cached > 2<<20 {
		t.Fatalf("the cache holds %d bytes, more than its 2 MiB", s.Cached)
	}
}

// TestCacheConcurrent reads and writes through one cache from many
// goroutines, each goroutine owning a stripe, while readers read across
// every stripe: under -race, and every read sees either the old or the
// new bytes of its own stripe's latest write.
func TestCacheConcurrent(t *testing.T) {
	const size, workers = 2 << 20, 8
	m, _ := randomMemory(t, size)
	c := disk.NewCache(&counting{Device: m}, &disk.CacheOptions{BlockSize: 4096, MaxBytes: 256 << 10})
	var wg sync.WaitGroup
	stripe := int64(size / workers)
	for w := range workers {
		wg.Go(func() { // writer and checker of its stripe
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 200 {
				off := int64(w)*stripe + 512*rng.Int64N(stripe/512-8)
				p := bytes.Repeat([]byte{byte(i)}, 512*(1+rng.IntN(8)))
				if _, err := c.WriteAt(p, off); err != nil {
					t.Error(err)
					return
				}
				got := make([]byte, len(p))
				if _, err := c.ReadAt(got, off); err != nil || !bytes.Equal(got, p) {
					t.Errorf("read after write at %d: %v; equal %v", off, err, bytes.Equal(got, p))
					return
				}
			}
		})
		wg.Go(func() { // a reader across everything
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			p := make([]byte, 20000)
			for range 200 {
				if _, err := c.ReadAt(p, rng.Int64N(size-int64(len(p)))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Now quiet: the cache and the device agree everywhere.
	got, want := make([]byte, size), make([]byte, size)
	c.ReadAt(got, 0)
	m.ReadAt(want, 0)
	if !bytes.Equal(got, want) {
		t.Fatal("after the concurrent writes the cache shows other bytes than the device holds")
	}
}

// BenchmarkCache reads a disk 1 KiB at a time from start to end, as ext4
// reads inode tables, with and without a Cache, from two devices: a raw
// file in the page cache (a system call per request) and a device that
// sleeps 100µs per request (a remote disk; on a loaded machine the sleep
// overshoots, which favours the cache further):
//
//	go test -run '^$' -bench 'Cache' -count 6 ./disk/ | tee /tmp/c.txt
//	go tool benchstat -col /impl /tmp/c.txt
func BenchmarkCache(b *testing.B) {
	for _, dc := range []struct {
		name string
		size int64
		open func(b *testing.B, data []byte) disk.Device
	}{
		{"file", 16 << 20, func(b *testing.B, data []byte) disk.Device {
			path := filepath.Join(b.TempDir(), "disk.img")
			os.WriteFile(path, data, 0o644)
			f, err := disk.OpenFile(path, true)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { f.Close() })
			return f
		}},
		{"remote", 1 << 20, func(b *testing.B, data []byte) disk.Device {
			m := disk.NewMemory(int64(len(data)))
			m.WriteAt(data, 0)
			return &counting{Device: m, delay: 100 * time.Microsecond}
		}},
	} {
		m, data := randomMemory(b, dc.size)
		_ = m
		dev := dc.open(b, data)
		for _, cached := range []bool{false, true} {
			name := "dev=" + dc.name + "/impl=nocache"
			if cached {
				name = "dev=" + dc.name + "/impl=cache"
			}
			b.Run(name, func(b *testing.B) {
				p := make([]byte, 1024)
				b.SetBytes(dc.size)
				for b.Loop() {
					d := dev
					if cached {
						d = disk.NewCache(dev, nil) // cold each time
					}
					for off := int64(0); off < dc.size; off += 1024 {
						if _, err := d.ReadAt(p, off); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
