//go:build lkl

package ufs_test

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/ufs"
)

// exportImage makes an ext4 image of a tree with what CopyTree copies and
// skips: directories and files of several modes and times, a sparse file
// larger than a chunk, an empty file, hard links, symlinks and a fifo.
func exportImage(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"a/b/c", "a/e", "z"} {
		require.NoError(t, os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	write := func(name string, data []byte, perm os.FileMode) {
		require.NoError(t, os.WriteFile(filepath.Join(src, name), data, perm))
		require.NoError(t, os.Chmod(filepath.Join(src, name), perm))
	}
	write("a/one", []byte("one"), 0o644)
	write("a/b/two", make([]byte, 5000), 0o600)
	write("a/b/c/exec", []byte("#!/bin/sh\n"), 0o755)
	write("a/empty", nil, 0o640)
	write("z/rand", randomBytes(t, 300<<10), 0o644)
	f, err := os.Create(filepath.Join(src, "a/sparse"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(12<<20))
	_, err = f.WriteAt([]byte("head"), 4096)
	require.NoError(t, err)
	_, err = f.WriteAt(randomBytes(t, 1<<20), 10<<20)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Link(filepath.Join(src, "a/one"), filepath.Join(src, "a/e/one-again")))
	require.NoError(t, os.Link(filepath.Join(src, "a/one"), filepath.Join(src, "z/one-3")))
	require.NoError(t, os.Symlink("../one", filepath.Join(src, "a/e/link")))
	require.NoError(t, os.Symlink("/nowhere/at/all", filepath.Join(src, "dangling")))
	require.NoError(t, unix.Mkfifo(filepath.Join(src, "a/b/fifo"), 0o644))
	for i, d := range []string{"a/b/c", "a/e", "a/b", "a", "z"} {
		require.NoError(t, os.Chmod(filepath.Join(src, d), []os.FileMode{0o700, 0o750, 0o755, 0o711, 0o755}[i]))
	}
	ts := time.Unix(1500000000, 0)
	filepath.Walk(src, func(p string, fi fs.FileInfo, err error) error {
		require.NoError(t, err)
		if fi.Mode()&fs.ModeSymlink == 0 {
			ts = ts.Add(time.Hour)
			require.NoError(t, os.Chtimes(p, ts.Add(-time.Minute), ts))
		}
		return nil
	})
	img := filepath.Join(t.TempDir(), "export.img")
	imagetest.MakeFS(t, "ext4", src, img)
	return img
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// snapshot describes every entry under dir: type, mode, times, size,
// content, symlink target, data runs (SEEK_DATA/SEEK_HOLE) and which
// names are one file.
func snapshot(t *testing.T, dir string) []string {
	var out []string
	inodes := map[uint64][]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, fi fs.FileInfo, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v size=%d mtime=%d atime=%d", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), time.Unix(st.Atim.Unix()).UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			line += " -> " + target
		case fi.Mode().IsRegular():
			f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOATIME, 0) // a hard link's atime is the others'
			require.NoError(t, err)
			data, err := io.ReadAll(f)
			f.Close()
			require.NoError(t, err)
			line += fmt.Sprintf(" sha=%x runs=%v", sha256.Sum256(data), dataRunsOf(t, p, fi.Size()))
			if st.Nlink > 1 {
				inodes[st.Ino] = append(inodes[st.Ino], rel)
			}
		}
		out = append(out, line)
		return nil
	}))
	for _, names := range inodes {
		sort.Strings(names)
		out = append(out, fmt.Sprintf("links %v", names))
	}
	sort.Strings(out)
	return out
}

// dataRunsOf lists the data runs of the file p, in 4 KiB blocks.
func dataRunsOf(t *testing.T, p string, size int64) [][2]int64 {
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	var runs [][2]int64
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			break
		}
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		require.NoError(t, err)
		runs = append(runs, [2]int64{data >> 12, (hole + 4095) >> 12})
		off = hole
	}
	return runs
}

// copyOut copies the image's whole tree with CopyTree from fsys (with
// image as CopyOptions.Image if it is not ""), and returns the
// destination, what Skipped got and the progress' totals.
func copyOut(t *testing.T, fsys *ufs.FS, image string) (string, []string, [2]int64) {
	dst := t.TempDir()
	host := ufs.New(sys.Host(), dst)
	defer host.Close()
	var img *ufs.File
	if image != "" {
		dir := ufs.New(sys.Host(), filepath.Dir(image))
		defer dir.Close()
		var err error
		img, err = dir.OpenFile(filepath.Base(image), os.O_RDONLY, 0)
		require.NoError(t, err)
		defer img.Close()
	}
	var (
		mu      sync.Mutex
		skipped []string
		files   atomic.Int64
		bytes   atomic.Int64
	)
	err := ufs.CopyTree(host, fsys, []string{"."}, ufs.CopyOptions{
		Workers:  4,
		Image:    img,
		Progress: func(f, b int64) { files.Add(f); bytes.Add(b) },
		Skipped: func(name string, mode fs.FileMode) {
			mu.Lock()
			defer mu.Unlock()
			skipped = append(skipped, fmt.Sprintf("%s %v", name, mode))
		},
	})
	require.NoError(t, err)
	return dst, skipped, [2]int64{files.Load(), bytes.Load()}
}

// startIsolated starts an isolated kernel with img mounted read-only at
// /mnt, halted at the end of the test.
func startIsolated(t *testing.T, img string) *isolated.Kernel {
	k, err := isolated.Start(&lkl.Config{Disks: []lkl.Disk{{Path: img, ReadOnly: true, FSType: "ext4", MountPoint: "/mnt"}}})
	require.NoError(t, err)
	t.Cleanup(func() { k.Halt() })
	return k
}

// The copy of an image's tree from an isolated kernel's export is the
// copy CopyTree's own walk makes on in-process LKL: the same entries,
// modes, times, contents, holes, symlinks and hard links, the same
// Skipped reports and progress totals; with the image's direct copies
// (the export's extents) too.
func TestExportCopyIsTheWalksCopy(t *testing.T) {
	lklKernel(t) // booted (isolated under make test-isolated) before the goroutines are counted
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the kernel halts
	img := exportImage(t)
	walked, _ := attach(t, img, "ext4", true)
	// Counted once in-process LKL has its disk (it keeps an fd of the
	// image's until the test's end).
	kerneltest.CheckFDs(t, sys.Host())
	iso := startIsolated(t, img)
	exported := ufs.New(iso, "/mnt")
	defer exported.Close()
	var _ sys.TreeExporter = iso

	for _, image := range []string{"", img} {
		wdst, wskipped, wprog := copyOut(t, walked, image)
		edst, eskipped, eprog := copyOut(t, exported, image)
		want := snapshot(t, wdst)
		require.Equal(t, want, snapshot(t, edst), "image %q", image)
		require.Contains(t, fmt.Sprint(want), "links [a/e/one-again a/one z/one-3]", "the image has hard links")
		require.Contains(t, fmt.Sprint(want), "a/sparse -rw-r--r-- size=12582912", "the image has the sparse file")
		require.Equal(t, []string{"a/b/fifo p---------"}, wskipped)
		require.Equal(t, wskipped, eskipped)
		require.Equal(t, wprog, eprog)
	}
}

// A child killed in the middle of an export: CopyTree returns its
// DiedError, what was copied stays, nothing hangs or leaks.
func TestExportCopyChildKilled(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the kernel halts
	kerneltest.CheckFDs(t, sys.Host())
	img := imagetest.Build(t, "ext4", imagetest.Tree{"a": "first", "big": string(randomBytes(t, 20<<20))})
	iso := startIsolated(t, img)
	fsys := ufs.New(iso, "/mnt")
	defer fsys.Close()
	dst := t.TempDir()
	host := ufs.New(sys.Host(), dst)
	defer host.Close()
	var files atomic.Int64
	err := ufs.CopyTree(host, fsys, []string{"."}, ufs.CopyOptions{Workers: 2, Progress: func(f, _ int64) {
		if files.Add(f) == 2 && f == 1 { // the big file's record: kill the child
			syscall.Kill(iso.Pid(), syscall.SIGKILL)
		}
	}})
	var d *isolated.DiedError
	require.ErrorAs(t, err, &d, "%v", err)
	require.Equal(t, syscall.SIGKILL, d.Signal)
	got, err := os.ReadFile(filepath.Join(dst, "a"))
	require.NoError(t, err, "the partial copy stays")
	require.Equal(t, "first", string(got))
}
