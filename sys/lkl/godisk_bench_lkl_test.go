//go:build lkl

package lkl_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// timedDevice counts the reads that reach a device and the time they take
// inside it.
type timedDevice struct {
	disk.Device
	reads, bytes, nanos atomic.Int64
}

func (d *timedDevice) ReadAt(p []byte, off int64) (int, error) {
	t0 := time.Now()
	n, err := d.Device.ReadAt(p, off)
	d.nanos.Add(int64(time.Since(t0)))
	d.reads.Add(1)
	d.bytes.Add(int64(n))
	return n, err
}

// Under returns the device timed (disk.Stacked), so that it is local and
// read-only as that device is.
func (d *timedDevice) Under() []disk.Device { return []disk.Device{d.Device} }

// localDevice says its device is local (disk.LocalDevice), so that its
// requests are served inline.
type localDevice struct{ disk.Device }

func (localDevice) Local() bool { return true }

// BenchmarkGoDiskTree reads every file of a tree of small files (2,000 by
// default; GK_TREE_IMG=/dev/shm/gk-cpbench/tree.img for cpbench.sh's
// 20,000) on a fresh mount each time, the LKL side of demo cp-out, with
// the image served these ways: C preadv on the host file (raw); Go
// ReaderAt on the file, each request on a goroutine, with io_timeout 0
// (go-direct) and with the default timeout (go-timeout); the same device
// said local, so every request is served inline on the submitting thread
// (go-inline); and through disk.Cache (64 KiB blocks, read-ahead), by
// goroutines (go-cache) and inline (go-inline-cache). Mode warm reads the tree a second time on the same mount,
// all of it in the kernel's caches: what a walk costs without requests.
// It reports wall and CPU time per walk, the virtio requests per walk, the
// reads that reach the file below the cache, and the share of the walk
// spent inside the device.
func BenchmarkGoDiskTree(b *testing.B) {
	img := os.Getenv("GK_TREE_IMG")
	if img == "" {
		tree := imagetest.Tree{}
		for d := range 20 {
			for f := range 100 {
				tree[fmt.Sprintf("tree/d%d/f%03d", d, f)] = string(make([]byte, 1024*(1+d%8)))
			}
		}
		img = imagetest.Build(b, "ext4", tree)
	}
	f, err := os.Open(img)
	require.NoError(b, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(b, err)
	defer lkl.SetIOTimeout(kern, "")
	for _, mode := range []string{"raw", "warm", "go-direct", "go-timeout", "go-inline", "go-cache", "go-inline-cache"} {
		b.Run("mode="+mode, func(b *testing.B) {
			lkl.SetIOTimeout(kern, "0")
			if mode == "go-timeout" {
				lkl.SetIOTimeout(kern, "")
			}
			var requests, reads, devNS, walkNS, cpuNS int64
			for b.Loop() {
				file := &timedDevice{Device: disk.ReaderAt(f, fi.Size())}
				var dev disk.Device = file
				switch mode {
				case "raw", "warm":
					dev = &hostFileDevice{f: f}
				case "go-inline":
					dev = localDevice{file}
				case "go-cache":
					dev = disk.NewCache(file, nil)
				case "go-inline-cache":
					dev = disk.NewCache(localDevice{file}, nil)
				}
				top := &timedDevice{Device: dev}
				var attach disk.Device = top
				if mode == "raw" || mode == "warm" {
					attach = dev // a lkl.HostFile, served in C (timedDevice would hide its File)
				}
				mp := "/mnt/bench-" + mode
				_, err := kern.AttachDisk(attach, lkl.Disk{Path: mode, ReadOnly: true, FSType: "ext4", MountPoint: mp})
				require.NoError(b, err)
				if mode == "warm" {
					walkTree(b, mp)
				}
				t0, c0 := time.Now(), kerneltest.CPUTime()
				walkTree(b, mp)
				walkNS += int64(time.Since(t0))
				cpuNS += int64(kerneltest.CPUTime() - c0)
				require.NoError(b, kern.Unmount(mp))
				requests += top.reads.Load()
				reads += file.reads.Load()
				devNS += top.nanos.Load()
			}
			n := int64(b.N)
			b.ReportMetric(float64(walkNS/n)/1e6, "walk-ms/op")
			b.ReportMetric(float64(cpuNS/n)/1e6, "cpu-ms/op")
			if mode != "raw" && mode != "warm" {
				b.ReportMetric(float64(requests/n), "requests/op")
				b.ReportMetric(float64(reads/n), "file-reads/op")
				b.ReportMetric(100*float64(devNS)/float64(walkNS), "%in-device")
			}
		})
	}
}

// walkTree reads every file under dir through LKL.
func walkTree(b *testing.B, dir string) {
	names := listDir(b, dir)
	for _, name := range slices.Sorted(maps.Keys(names)) {
		p := path.Join(dir, name)
		switch names[name] {
		case 4: // DT_DIR
			walkTree(b, p)
		case 8: // DT_REG
			readFile(b, p)
		}
	}
}

// slowDevice takes delay for every read, as a remote disk might.
type slowDevice struct {
	disk.Device
	delay time.Duration
}

func (d *slowDevice) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(d.delay)
	return d.Device.ReadAt(p, off)
}

// BenchmarkGoDiskSlowDevice reads a file from a device that takes 20 ms
// per read while another goroutine makes getpid calls, and reports the
// longest getpid. Before LKL fix 15 the kernel waited for each request
// with its one CPU held, so a slow request held up every other call (the
// longest getpid took 32-63 ms); now requests complete from goroutines
// and the getpid does not wait for them (docs/disks-lkl.md).
func BenchmarkGoDiskSlowDevice(b *testing.B) {
	raw, err := os.ReadFile(imagetest.Build(b, "ext4", imageTree("ext4")))
	require.NoError(b, err)
	var worst time.Duration
	for b.Loop() {
		dev := &slowDevice{Device: disk.ReaderAt(bytes.NewReader(raw), int64(len(raw))), delay: 20 * time.Millisecond}
		_, err := kern.AttachDisk(dev, lkl.Disk{Path: "slow", ReadOnly: true, FSType: "ext4", MountPoint: "/mnt/slow"})
		require.NoError(b, err)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				sys.SyscallOn(kern, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
				worst = max(worst, time.Since(t0))
			}
		})
		readFile(b, "/mnt/slow/big.bin")
		close(stop)
		wg.Wait()
		require.NoError(b, kern.Unmount("/mnt/slow"))
	}
	b.ReportMetric(float64(worst)/1e6, "worst-getpid-ms")
}
