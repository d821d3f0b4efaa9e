//go:build lkl

package ufs_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/ufs"
)

// memDisk is a writable disk in memory (disk.Device), served to LKL by Go.
type memDisk struct {
	mu sync.RWMutex
	b  []byte
}

func (m *memDisk) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, fmt.Errorf("read of %d at %d outside %d bytes", len(p), off, len(m.b))
	}
	return copy(p, m.b[off:]), nil
}

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, fmt.Errorf("write of %d at %d outside %d bytes", len(p), off, len(m.b))
	}
	return copy(m.b[off:], p), nil
}

func (m *memDisk) Size() int64  { return int64(len(m.b)) }
func (m *memDisk) Flush() error { return nil }

// attachDevice attaches dev to LKL at a fresh mount point and returns an
// FS on it; at the end of the test the FS is closed and the device
// unmounted, which detaches it.
func attachDevice(t *testing.T, dev disk.Device) (*ufs.FS, string) {
	t.Helper()
	kern := lklKernel(t)
	mp := fmt.Sprintf("/mnt/ufs-%d", mounts.Add(1))
	info, err := kern.AttachDisk(dev, lkl.Disk{Path: t.Name(), FSType: "ext4", MountPoint: mp})
	require.NoError(t, err)
	require.Equal(t, disk.IsReadOnly(dev), info.Disk.ReadOnly)
	return mounted(t, kern, mp), mp
}

// fstest.TestFS over an ext4 image served by Go devices: read-only from an
// io.ReaderAt over the image's bytes, which stay untouched, and writable
// from memory, where a tree written through ufs makes a file system that
// e2fsck finds clean after the unmount.
func TestGoDiskConformance(t *testing.T) {
	src, tr := imageSource(t, "ext4")
	img := filepath.Join(t.TempDir(), "ext4.img")
	imagetest.MakeFS(t, "ext4", src, img)
	raw, err := os.ReadFile(img)
	require.NoError(t, err)
	names := append(expected(tr), "dir/hard")

	t.Run("ReaderAt", func(t *testing.T) {
		orig := bytes.Clone(raw)
		fsys, mp := attachDevice(t, disk.ReaderAt(bytes.NewReader(raw), int64(len(raw))))
		require.NoError(t, fstest.TestFS(fsys, names...))
		for name, content := range tr.Files() {
			got, err := fsys.ReadFile(name)
			require.NoError(t, err)
			require.Equal(t, content, string(got), name)
		}
		require.NoError(t, fsys.Close())
		unmount(t, lklKernel(t), mp)
		require.Equal(t, orig, raw, "a read-only device is never written")
	})

	t.Run("memory", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty.img")
		imagetest.MakeFS(t, "ext4", t.TempDir(), empty)
		b, err := os.ReadFile(empty)
		require.NoError(t, err)
		dev := &memDisk{b: b}
		fsys, mp := attachDevice(t, dev)
		writeTree(t, fsys, tr)
		require.NoError(t, fstest.TestFS(fsys, expected(tr)...))
		require.NoError(t, fsys.Close())
		unmount(t, lklKernel(t), mp)
		out := filepath.Join(t.TempDir(), "written.img")
		require.NoError(t, os.WriteFile(out, dev.b, 0o600))
		imagetest.Run(t, "e2fsck", "-fn", out)
		require.Contains(t, imagetest.Run(t, "debugfs", "-R", "cat /big.bin", out), tr["big.bin"])
	})
}
