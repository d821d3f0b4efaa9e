//go:build lkl

package ufs_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/ufs"
)

func init() { children["copy-to-stdout"] = copyToStdout }

// hostCopyData is the file the host-copy tests copy: several of the
// isolated kernel's 1 MiB chunks and a tail.
func hostCopyData() []byte {
	data := make([]byte, 3<<20+11)
	for i := range data {
		data[i] = byte(i*31 + i>>12)
	}
	return data
}

// hostCopyFS returns an FS on k's root holding /big (hostCopyData).
func hostCopyFS(k sys.Kernel) (*ufs.FS, error) {
	fsys := ufs.New(k, "/")
	f, err := fsys.Create("big")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(hostCopyData()); err != nil {
		f.Close()
		return nil, err
	}
	return fsys, f.Close()
}

// copyToStdout is the child of TestCopyToHostSIGPIPE: it copies /big of
// a kernel (isolated if UFS_ISOLATED is set, else in-process LKL) to its
// stdout with io.Copy, as demo cat does.
func copyToStdout() error {
	var k sys.Kernel
	var err error
	if os.Getenv("UFS_ISOLATED") != "" {
		k, err = isolated.Start(nil)
	} else {
		k, err = lkl.Boot(nil)
	}
	if err != nil {
		return err
	}
	fsys, err := hostCopyFS(k)
	if err != nil {
		return err
	}
	f, err := fsys.Open("big")
	if err != nil {
		return err
	}
	_, err = io.Copy(os.Stdout, f)
	return err
}

// TestCopyToHost: io.Copy of a File of an isolated kernel into an
// *os.File or a File of the host kernel (which the kernel's process does:
// sys.HostCopier) gives the file's bytes from its offset, into a pipe, a
// regular file and a host File, and
// leaves the File's offset at its end; into a pipe without a reader it
// fails as the copy through memory on the host kernel does, with the
// os.File's own write error.
func TestCopyToHost(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	kerneltest.CheckFDs(t, sys.Host())
	k, err := isolated.Start(nil)
	require.NoError(t, err)
	defer k.Halt()
	fsys, err := hostCopyFS(k)
	require.NoError(t, err)
	data := hostCopyData()
	open := func() *ufs.File {
		f, err := fsys.OpenFile("big", os.O_RDONLY, 0)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		return f
	}

	f := open()
	_, err = f.Seek(1000, io.SeekStart)
	require.NoError(t, err)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(r); got <- b }()
	wrote := kernelWrote(t, k)
	n, err := io.Copy(w, f)
	w.Close()
	require.NoError(t, err)
	require.Equal(t, int64(len(data)-1000), n)
	require.GreaterOrEqual(t, kernelWrote(t, k)-wrote, n, "the kernel's process did not write the bytes itself")
	require.True(t, bytes.Equal(data[1000:], <-got), "the pipe's bytes are not the file's from offset 1000")
	r.Close()
	pos, err := f.Seek(0, io.SeekCurrent)
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), pos)

	dst, err := os.Create(t.TempDir() + "/dst")
	require.NoError(t, err)
	defer dst.Close()
	n, err = io.Copy(dst, open())
	require.NoError(t, err)
	require.Equal(t, int64(len(data)), n)
	b, err := os.ReadFile(dst.Name())
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, b), "the regular file's bytes are not the file's")

	// Into a File of the host kernel.
	hostDir := t.TempDir()
	hostFS := ufs.New(sys.Host(), hostDir)
	hf, err := hostFS.Create("copy")
	require.NoError(t, err)
	wrote = kernelWrote(t, k)
	n, err = io.Copy(hf, open())
	require.NoError(t, err)
	require.NoError(t, hf.Close())
	require.Equal(t, int64(len(data)), n)
	require.GreaterOrEqual(t, kernelWrote(t, k)-wrote, n, "the kernel's process did not write the host File's bytes itself")
	b, err = os.ReadFile(hostDir + "/copy")
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, b), "the host File's bytes are not the file's")

	// EPIPE: the same error as the host's copy through memory.
	require.NoError(t, os.WriteFile(hostDir+"/big", data, 0o644))
	var msgs []string
	for _, src := range []*ufs.FS{fsys, hostFS} {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		r.Close()
		f, err := src.OpenFile("big", os.O_RDONLY, 0)
		require.NoError(t, err)
		_, err = io.Copy(w, f)
		f.Close()
		w.Close()
		require.ErrorIs(t, err, syscall.EPIPE)
		msgs = append(msgs, err.Error())
	}
	require.Equal(t, msgs[1], msgs[0], "the isolated copy's EPIPE differs from the host's")
}

// kernelWrote returns the bytes the kernel's process has passed to
// write-like calls (wchar of /proc/PID/io; not its process_vm_writev).
func kernelWrote(t *testing.T, k *isolated.Kernel) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(k.Pid()) + "/io")
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no wchar in %s", b)
	return 0
}

// TestCopyToHostSIGPIPE: a program whose io.Copy of a File into its
// stdout meets a broken pipe dies of SIGPIPE, as Go programs do, when the
// isolated kernel's process does the copy as much as when the copy runs
// through the program (in-process LKL).
func TestCopyToHostSIGPIPE(t *testing.T) {
	for _, isolate := range []string{"", "1"} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "UFS_TEST_CHILD=copy-to-stdout", "UFS_ISOLATED="+isolate)
		r, w, err := os.Pipe()
		require.NoError(t, err)
		r.Close()
		cmd.Stdout = w
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err = cmd.Run()
		w.Close()
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "isolated=%q: %v; stderr: %s", isolate, err, stderr.String())
		ws := ee.Sys().(syscall.WaitStatus)
		require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGPIPE, "isolated=%q: %v, want death by SIGPIPE; stderr: %s", isolate, err, stderr.String())
	}
}
