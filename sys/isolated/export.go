package isolated

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
)

// Tree exports: a copy of a whole tree out of the isolated kernel (demo
// cp-out) made of system calls costs several round trips per file
// (openat, fstat, pread, close, and getdents per directory), and the
// round trips, not LKL, set its speed. With ExportTree the child walks
// the tree on its own LKL, as libguestfs' tar-out walks it inside its
// appliance, and writes it as one sys/treestream stream into a pipe whose
// write end it takes from this process (pidfd_getfd, as AddDisk's images:
// takeFD). ufs's Copier reads the stream and creates the files; it trusts
// nothing in it (a hostile image may have taken the child over).
//
// The ctlExport request returns once the child has taken the pipe and
// started the walk on a goroutine of its own; the stream then bounds
// itself: a read that waits longer than isolation_call_deadline for the
// child to write kills the child (the deadline's DiedError), and a stream
// that ends before its end record because the child died reads as that
// DiedError.

// ctlExport asks the child to export a tree: a = the kernel's fd of the
// directory, this process's fd of the pipe's write end, 1 for extents.
const ctlExport = ctlHalt + 12

// exportPipeSize is the pipe's buffer: fewer wake-ups than the default
// 64 KiB (a host that caps pipe sizes lower keeps its default).
const exportPipeSize = 1 << 20

// exportIdle bounds a stream's silence when isolation_call_deadline is 0:
// a child that stops writing and stays alive must not hang the reader.
const exportIdle = 5 * time.Minute

// exportGrace is how long a reader that met the end of a stream waits for
// the child's exit to be seen, to tell a death from a child that closed
// the pipe early.
const exportGrace = 2 * time.Second

// ExportTree returns the sys/treestream stream of the directory open on
// the kernel at dirfd, walked in the child (sys.TreeExporter; with
// extents, the files whose bytes lie plainly in the disk image come as
// their extents). The caller may close dirfd once ExportTree returns,
// and closes the stream, which stops the walk if it has not ended.
func (k *Kernel) ExportTree(dirfd int, extents bool) (io.ReadCloser, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("isolated: export: %w", err)
	}
	wfd := w.Fd() // blocking from now on: the child writes it so
	host.Call(k.h, unix.SYS_FCNTL, wfd, unix.F_SETPIPE_SZ, exportPipeSize, 0, 0, 0)
	var ext uintptr
	if extents {
		ext = 1
	}
	_, _, e := k.call(ctlExport, [6]uintptr{uintptr(dirfd), wfd, ext})
	w.Close() // the child has its own copy, or failed
	if e != 0 {
		r.Close()
		if d := k.died.Load(); d != nil && e == syscall.EIO {
			return nil, d
		}
		return nil, fmt.Errorf("isolated: export: %w", e)
	}
	idle := k.cfg.CallDeadline()
	if idle == 0 {
		idle = exportIdle
	}
	return &exportStream{k: k, r: r, idle: idle}, nil
}

// exportStream is the pipe's read end, with the progress deadline.
type exportStream struct {
	k    *Kernel
	r    *os.File
	idle time.Duration
	once sync.Once
}

// Read reads the stream; see ExportTree.
func (s *exportStream) Read(p []byte) (int, error) {
	s.r.SetReadDeadline(time.Now().Add(s.idle))
	n, err := s.r.Read(p)
	k := s.k
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		if k.state.Load() == stateRunning {
			k.kill("isolation_call_deadline", fmt.Sprintf("the tree export wrote nothing for %v (isolation_call_deadline %v)", s.idle, k.cfg.CallDeadline()))
			<-k.exited
		}
		if d := k.died.Load(); d != nil {
			return n, d
		}
		return n, fmt.Errorf("isolated: the tree export wrote nothing for %v", s.idle)
	case err == io.EOF:
		select {
		case <-k.exited:
		case <-time.After(exportGrace):
		}
		if d := k.died.Load(); d != nil {
			return n, d
		}
	}
	return n, err
}

// Close closes the pipe's read end: the child's next write fails (EPIPE)
// and its walk stops.
func (s *exportStream) Close() error {
	err := os.ErrClosed
	s.once.Do(func() { err = s.r.Close() })
	return err
}
