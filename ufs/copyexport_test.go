package ufs_test

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/treestream"
	"github.com/gokernel/gokernel/ufs"
)

// exporting is the host kernel offering a canned tree export: what an
// isolated kernel's child (or a hostile one) would send.
type exporting struct {
	sys.Kernel
	stream []byte
	calls  int
}

func (k *exporting) ExportTree(int, bool) (io.ReadCloser, error) {
	k.calls++
	return io.NopCloser(bytes.NewReader(k.stream)), nil
}

// copyExport copies name of a source FS whose kernel exports stream into
// a fresh directory dest beside a directory outside, with image (if not
// nil) as CopyOptions.Image; it returns the copy's error, what Skipped
// got and the parent directory.
func copyExport(t *testing.T, stream []byte, name string, image []byte) (error, []string, string) {
	t.Helper()
	kerneltest.CheckFDs(t, sys.Host())
	dir := t.TempDir()
	for _, d := range []string{"src/sub", "dest", "outside"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	k := &exporting{Kernel: sys.Host(), stream: stream}
	src := ufs.New(k, filepath.Join(dir, "src"))
	defer src.Close()
	dst := ufs.New(sys.Host(), filepath.Join(dir, "dest"))
	defer dst.Close()
	var (
		mu      sync.Mutex
		skipped []string
	)
	o := ufs.CopyOptions{Workers: 2, Skipped: func(name string, mode fs.FileMode) {
		mu.Lock()
		defer mu.Unlock()
		skipped = append(skipped, name+" "+mode.String())
	}}
	if image != nil {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "image"), image, 0o444))
		top := ufs.New(sys.Host(), dir)
		defer top.Close()
		img, err := top.OpenFile("image", os.O_RDONLY, 0)
		require.NoError(t, err)
		defer img.Close()
		o.Image = img
	}
	err := ufs.CopyTree(dst, src, []string{name}, o)
	require.Equal(t, 1, k.calls, "exports")
	ents, rerr := os.ReadDir(filepath.Join(dir, "outside"))
	require.NoError(t, rerr)
	require.Empty(t, ents, "nothing is made outside the destination")
	return err, skipped, dir
}

var (
	tA = time.Unix(1600000000, 111)
	tB = time.Unix(1650000000, 222000)
)

// A Copier copies an exported tree as its walk would: directories with
// their modes and times, small and large files (a large one's holes, and
// its all-zero chunks, left as holes), hard links, symlinks, and Skipped
// told of what is not copied, by its path in the source.
func TestCopyFromExport(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // the tests' kernels may run
	const big = 20 << 20
	var b bytes.Buffer
	w := treestream.NewWriter(&b)
	w.Root(unix.S_IFDIR|0o755, tA, tA)
	w.Dir(0, "d", unix.S_IFDIR|0o750, tA, tB)
	w.File(1, "small", unix.S_IFREG|0o640, 5, tA, tB, true, false)
	w.Data(0, []byte("hello"))
	w.FileEnd()
	w.File(1, "empty", unix.S_IFREG|0o600, 0, tB, tA, false, false)
	w.FileEnd()
	w.File(0, "big", unix.S_IFREG|0o644, big, tA, tB, false, false)
	w.Data(0, bytes.Repeat([]byte{1}, treestream.MaxData))
	for off := int64(8 << 20); off < 16<<20; off += treestream.MaxData {
		w.Data(off, make([]byte, treestream.MaxData)) // zeros: left as a hole
	}
	w.Data(big-3, []byte("end"))
	w.FileEnd()
	w.Link(0, "again", 0)
	w.Symlink(1, "ln", "small", tA, tB)
	w.Skipped(1, "fifo", unix.S_IFIFO|0o644)
	require.NoError(t, w.End())

	err, skipped, dir := copyExport(t, b.Bytes(), ".", nil)
	require.NoError(t, err)
	dest := filepath.Join(dir, "dest")
	require.Equal(t, []string{"d/fifo p---------"}, skipped)

	fi, err := os.Stat(filepath.Join(dest, "d"))
	require.NoError(t, err)
	require.Equal(t, fs.ModeDir|0o750, fi.Mode())
	require.Equal(t, tB, fi.ModTime())
	got, err := os.ReadFile(filepath.Join(dest, "d/small"))
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
	fi, err = os.Stat(filepath.Join(dest, "d/small"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o640), fi.Mode())
	require.Equal(t, tB, fi.ModTime())
	again, err := os.Stat(filepath.Join(dest, "again"))
	require.NoError(t, err)
	require.True(t, os.SameFile(fi, again), "a hard link")
	target, err := os.Readlink(filepath.Join(dest, "d/ln"))
	require.NoError(t, err)
	require.Equal(t, "small", target)
	fi, err = os.Stat(filepath.Join(dest, "d/empty"))
	require.NoError(t, err)
	require.Zero(t, fi.Size())

	f, err := os.Open(filepath.Join(dest, "big"))
	require.NoError(t, err)
	defer f.Close()
	fi, err = f.Stat()
	require.NoError(t, err)
	require.EqualValues(t, big, fi.Size())
	require.Equal(t, tB, fi.ModTime())
	data, err := io.ReadAll(f)
	require.NoError(t, err)
	want := make([]byte, big)
	copy(want, bytes.Repeat([]byte{1}, treestream.MaxData))
	copy(want[big-3:], "end")
	require.True(t, bytes.Equal(want, data), "the large file's bytes")
	// Holes, where the file system has SEEK_DATA: nothing written in
	// [1 MiB, 16 MiB).
	if off, err := unix.Seek(int(f.Fd()), treestream.MaxData, unix.SEEK_DATA); err == nil {
		require.GreaterOrEqual(t, off, int64(16<<20), "the first data after the first MiB")
	}
}

// With an image (CopyOptions.Image), the export's extents are copied from
// it: a small file, a large one with a hole between its extents.
func TestCopyFromExportExtents(t *testing.T) {
	image := make([]byte, 64<<10)
	for i := range image {
		image[i] = byte(i / 4096)
	}
	const big = 9 << 20
	var b bytes.Buffer
	w := treestream.NewWriter(&b)
	w.Root(unix.S_IFDIR|0o755, tA, tA)
	w.File(0, "small", unix.S_IFREG|0o644, 6000, tA, tB, false, true)
	w.Extent(0, 4096, 3*4096)
	w.Extent(4096, 6000-4096, 7*4096)
	w.FileEnd()
	w.File(0, "big", unix.S_IFREG|0o600, big, tA, tB, false, true)
	w.Extent(4096, 4096, 1*4096)
	w.Extent(big-4096, 4096, 2*4096)
	w.FileEnd()
	w.File(0, "holes", unix.S_IFREG|0o644, 5000, tA, tB, false, true) // no extents: all hole
	w.FileEnd()
	require.NoError(t, w.End())
	err, _, dir := copyExport(t, b.Bytes(), ".", image)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "dest/small"))
	require.NoError(t, err)
	require.Equal(t, append(bytes.Repeat([]byte{3}, 4096), bytes.Repeat([]byte{7}, 6000-4096)...), got)
	got, err = os.ReadFile(filepath.Join(dir, "dest/big"))
	require.NoError(t, err)
	want := make([]byte, big)
	copy(want[4096:], bytes.Repeat([]byte{1}, 4096))
	copy(want[big-4096:], bytes.Repeat([]byte{2}, 4096))
	require.True(t, bytes.Equal(want, got), "the large file's bytes")
	fi, err := os.Stat(filepath.Join(dir, "dest/holes"))
	require.NoError(t, err)
	require.EqualValues(t, 5000, fi.Size())
	fi, err = os.Stat(filepath.Join(dir, "dest/big"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode())
	require.Equal(t, tB, fi.ModTime())
}

// Copying a named directory makes it under its base name.
func TestCopyFromExportNamed(t *testing.T) {
	var b bytes.Buffer
	w := treestream.NewWriter(&b)
	w.Root(unix.S_IFDIR|0o700, tA, tB)
	w.File(0, "f", unix.S_IFREG|0o644, 1, tA, tA, false, false)
	w.Data(0, []byte("x"))
	w.FileEnd()
	require.NoError(t, w.End())
	err, _, dir := copyExport(t, b.Bytes(), "sub", nil)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "dest/sub/f"))
	require.NoError(t, err)
	require.Equal(t, "x", string(got))
	fi, err := os.Stat(filepath.Join(dir, "dest/sub"))
	require.NoError(t, err)
	require.Equal(t, fs.ModeDir|0o700, fi.Mode())
	require.Equal(t, tB, fi.ModTime())
}

// A hostile stream cannot make anything outside the destination, and what
// breaks the format or the copy is an error naming it.
func TestCopyFromHostileExport(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // the tests' kernels may run
	stream := func(f func(w *treestream.Writer)) []byte {
		var b bytes.Buffer
		w := treestream.NewWriter(&b)
		w.Root(unix.S_IFDIR|0o755, tA, tA)
		f(w)
		w.End()
		return b.Bytes()
	}
	file := func(w *treestream.Writer, dir int, name string) {
		w.File(dir, name, unix.S_IFREG|0o644, 5, tA, tA, false, false)
		w.Data(0, []byte("pwned"))
		w.FileEnd()
	}
	outside := t.TempDir() // for the absolute symlink
	var cut bytes.Buffer   // a stream that stops inside a file
	w := treestream.NewWriter(&cut)
	w.Root(unix.S_IFDIR|0o755, tA, tA)
	file(w, 0, "first")
	w.File(0, "second", unix.S_IFREG|0o644, 100, tA, tA, false, false)
	w.Data(0, []byte("part"))
	w.Flush()
	for _, tc := range []struct {
		name   string
		stream []byte
		image  []byte
		check  func(t *testing.T, err error, dest string)
	}{
		{"directory through a symlink out", stream(func(w *treestream.Writer) {
			w.Symlink(0, "esc", "../../outside", tA, tA)
			w.Dir(0, "esc", unix.S_IFDIR|0o755, tA, tA)
			file(w, 1, "x")
		}), nil, func(t *testing.T, err error, _ string) { require.Error(t, err) }},
		{"file through an absolute symlink", stream(func(w *treestream.Writer) {
			w.Symlink(0, "esc", filepath.Join(outside, "x"), tA, tA)
			file(w, 0, "esc")
		}), nil, func(t *testing.T, err error, _ string) {
			require.Error(t, err)
			_, err = os.Stat(filepath.Join(outside, "x"))
			require.ErrorIs(t, err, fs.ErrNotExist, "made through an absolute symlink")
		}},
		{"dotdot", append([]byte(treestream.Magic), "R\x00\x00\x00\x00\x00D\x00\x02..\x00\x00\x00\x00\x00Z"...), nil, func(t *testing.T, err error, _ string) {
			require.ErrorIs(t, err, treestream.ErrFormat)
			require.ErrorContains(t, err, "not one path component")
			require.ErrorContains(t, err, "the export of sub")
		}},
		{"cut in a file", cut.Bytes(), nil, func(t *testing.T, err error, dest string) {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			got, rerr := os.ReadFile(filepath.Join(dest, "sub/first"))
			require.NoError(t, rerr, "what came before stays")
			require.Equal(t, "pwned", string(got))
		}},
		{"extents not asked for", stream(func(w *treestream.Writer) {
			w.File(0, "f", unix.S_IFREG|0o644, 5, tA, tA, false, true)
			w.Extent(0, 5, 0)
			w.FileEnd()
		}), nil, func(t *testing.T, err error, _ string) {
			require.ErrorIs(t, err, treestream.ErrFormat)
			require.ErrorContains(t, err, "not asked for")
		}},
		{"extent past the image", stream(func(w *treestream.Writer) {
			w.File(0, "f", unix.S_IFREG|0o644, 5, tA, tA, false, true)
			w.Extent(0, 5, 4094)
			w.FileEnd()
		}), make([]byte, 4096), func(t *testing.T, err error, _ string) {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		}},
		{"error record", stream(func(w *treestream.Writer) {
			w.Dir(0, "d", unix.S_IFDIR|0o755, tA, tA)
			w.Error(1, "bad", "fstat", uint64(syscall.EUCLEAN), "negative file size -2")
		}), nil, func(t *testing.T, err error, _ string) {
			require.ErrorIs(t, err, syscall.EUCLEAN)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "sub/d/bad", pe.Path)
			require.Equal(t, "fstat", pe.Op)
			require.ErrorContains(t, err, "negative file size -2")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, _, dir := copyExport(t, tc.stream, "sub", tc.image)
			tc.check(t, err, filepath.Join(dir, "dest"))
		})
	}
}
