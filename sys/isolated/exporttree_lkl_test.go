//go:build lkl

package isolated_test

import (
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/sys/treestream"
)

// exportKernel starts an isolated kernel with an ext4 image of tree
// mounted read-only at /mnt, halted at the end of the test.
func exportKernel(t *testing.T, tree imagetest.Tree, callDeadline string) *isolated.Kernel {
	t.Helper()
	img := imagetest.Build(t, "ext4", tree)
	k, err := isolated.Start(&lkl.Config{IsolationCallDeadline: callDeadline,
		Disks: []lkl.Disk{{Path: img, ReadOnly: true, FSType: "ext4", MountPoint: "/mnt"}}})
	require.NoError(t, err)
	t.Cleanup(func() { k.Halt() })
	return k
}

// openDir opens name on k as a directory.
func openDir(t *testing.T, k sys.Kernel, name string) int {
	t.Helper()
	p, err := unix.BytePtrFromString(name)
	require.NoError(t, err)
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPENAT, ^uintptr(99), uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	require.Zero(t, e, "open %s", name)
	return int(fd)
}

// export exports name on k and reads the stream to its end or error.
func export(t *testing.T, k *isolated.Kernel, name string, each func(*treestream.Record)) error {
	t.Helper()
	fd := openDir(t, k, name)
	rc, err := k.ExportTree(fd, false)
	sys.SyscallOn(k, unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
	require.NoError(t, err)
	defer rc.Close()
	r := treestream.NewReader(rc)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if each != nil {
			each(rec)
		}
	}
}

// The child streams the tree: directories before what is in them, each
// directory's entries sorted, file data, symlinks; and it leaves no fd
// open on either side, nor a goroutine here.
func TestExportTree(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the kernel halts
	k := exportKernel(t, imagetest.Tree{"b/": "", "b/two": "22", "a": "1", "c => a": "", "b/d/": ""}, "")
	kerneltest.CheckFDs(t, k)
	kerneltest.CheckFDs(t, sys.Host())
	var got []string
	err := export(t, k, "/mnt", func(rec *treestream.Record) {
		s := string(rec.Kind) + rec.Name
		switch rec.Kind {
		case treestream.KindData:
			s += string(rec.Data)
		case treestream.KindSymlink:
			s += ">" + rec.Target
		}
		got = append(got, s)
	})
	require.NoError(t, err)
	require.Equal(t, []string{"R", "Fa", "d1", "e", "Db", "Dd", "Ftwo", "d22", "e", "Sc>a", "Dlost+found", "Z"}, got)
}

// A stream closed early stops the walk; the kernel goes on.
func TestExportTreeClosedEarly(t *testing.T) {
	tree := imagetest.Tree{}
	for i := range 300 {
		tree["d/f"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("data", 512)
	}
	k := exportKernel(t, tree, "")
	kerneltest.CheckFDs(t, k)
	kerneltest.CheckFDs(t, sys.Host())
	fd := openDir(t, k, "/mnt")
	rc, err := k.ExportTree(fd, false)
	require.NoError(t, err)
	sys.SyscallOn(k, unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
	var b [100]byte
	_, err = io.ReadFull(rc, b[:])
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Error(t, rc.Close(), "a second close")
	pid, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
	require.Zero(t, e)
	require.EqualValues(t, 1, pid)
}

// A walk that stops writing is bounded by isolation_call_deadline: the
// child is killed and the reader gets the DiedError that says so.
func TestExportTreeStall(t *testing.T) {
	k := exportKernel(t, imagetest.Tree{"a": "1", "stall": "", "z": "2"}, "1s")
	start := time.Now()
	err := export(t, k, "/mnt", nil)
	var d *isolated.DiedError
	require.ErrorAs(t, err, &d)
	require.Equal(t, "isolation_call_deadline", d.Deadline)
	require.Contains(t, d.Reason, "tree export")
	require.Less(t, time.Since(start), time.Minute)
	require.ErrorIs(t, k.Halt(), syscall.EIO)
}

// A child killed mid-stream: the reader gets its DiedError.
func TestExportTreeKilled(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the kernel halts
	k := exportKernel(t, imagetest.Tree{"a": "1", "stall": "", "z": "2"}, "0")
	kerneltest.CheckFDs(t, sys.Host())
	fd := openDir(t, k, "/mnt")
	rc, err := k.ExportTree(fd, false)
	require.NoError(t, err)
	defer rc.Close()
	require.NoError(t, syscall.Kill(k.Pid(), syscall.SIGKILL)) // the walk stalls at "stall" meanwhile
	_, err = io.ReadAll(rc)
	var d *isolated.DiedError
	require.ErrorAs(t, err, &d, "%v", err)
	require.Equal(t, syscall.SIGKILL, d.Signal)
	require.True(t, errors.Is(err, syscall.EIO))
}

// The hostile-image campaign's btrfs seed 2592, whose directory /a is an
// endless getdents64 stream (libgo's TestDirReaderEndlessImage): the walk
// in the child ends with an error record, EUCLEAN, instead of streaming
// the same entry for ever.
func TestExportTreeEndlessDirectory(t *testing.T) {
	img := imagetest.Gunzip(t, "../../internal/imagemut/testdata/hangs/btrfs-2592.img.gz")
	k, err := isolated.Start(&lkl.Config{Disks: []lkl.Disk{{Path: img, ReadOnly: true, FSType: "btrfs", MountPoint: "/mnt"}}})
	require.NoError(t, err)
	t.Cleanup(func() { k.Halt() })
	var errno uint64
	records := 0
	err = export(t, k, "/mnt", func(rec *treestream.Record) {
		records++
		if rec.Kind == treestream.KindError {
			errno = rec.Errno
		}
	})
	require.NoError(t, err)
	require.Less(t, records, 1000)
	require.Equal(t, uint64(syscall.EUCLEAN), errno)
}
