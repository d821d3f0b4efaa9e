//go:build lkl

package lkl

// #include "gk.h"
import "C"

import (
	"fmt"
	"io"
	"os"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gokernel/gokernel/disk"
)

// goDisk serves the virtio-blk requests of a disk.Device attached with
// AttachDisk. LKL hands each request to gkBlkSubmit on the thread that
// notified the queue, with the kernel's one CPU held. A local device
// (disk.IsLocal: a file, memory, a qcow2 image in host files) is served
// there and then, and the request completed before gkBlkSubmit returns,
// as LKL's own host-file backend does; so is a read a disk.TryReader can
// answer at once (an HTTP disk's cached blocks). Any other request gets a
// goroutine, and gkBlkSubmit returns at once; the goroutine completes the
// request (lkl_blk_req_complete, LKL fix 15) when the device has
// answered. So the kernel runs on while a slow device works, and it may
// have many requests outstanding at once, each in a goroutine of its own
// (up to the queue's depth, 64); see docs/disks-lkl.md.
type goDisk struct {
	name    string
	dev     disk.Device
	local   bool           // disk.IsLocal(dev): every request is served inline
	try     disk.TryReader // dev's, if it has one: reads it answers at once are served inline
	timeout time.Duration  // 0: none; the device works on the kernel's buffers
	handle  cgo.Handle

	inline, async atomic.Int64 // requests served inline and by goroutines (tests look)

	stuck    atomic.Int64 // timed-out requests whose device call has not returned
	inflight sync.WaitGroup
	// gone is set, under its write lock, once the kernel is halted or
	// about to be: a request finishing after that is not completed (the
	// kernel's memory, where the ring lives, is unmapped at halt).
	gone struct {
		sync.RWMutex
		yes bool
	}
	failed   atomic.Int64 // requests that ended in EIO
	reported atomic.Bool  // the first failure was printed
}

// LKL's request types and statuses (lkl_host.h).
const (
	blkRead     = C.LKL_DEV_BLK_TYPE_READ
	blkWrite    = C.LKL_DEV_BLK_TYPE_WRITE
	blkFlush    = C.LKL_DEV_BLK_TYPE_FLUSH
	blkFlushOut = C.LKL_DEV_BLK_TYPE_FLUSH_OUT

	blkOK     = C.LKL_DEV_BLK_STATUS_OK
	blkIOErr  = C.LKL_DEV_BLK_STATUS_IOERR
	blkUnsupp = C.LKL_DEV_BLK_STATUS_UNSUP
)

func newGoDisk(name string, dev disk.Device, timeout time.Duration) *goDisk {
	g := &goDisk{name: name, dev: dev, local: disk.IsLocal(dev), timeout: timeout}
	g.try, _ = dev.(disk.TryReader)
	g.handle = cgo.NewHandle(g)
	return g
}

// add hands the device to LKL's virtio-blk driver and returns LKL's disk id
// and device.
func (g *goDisk) add() (int, unsafe.Pointer, error) {
	var dev unsafe.Pointer
	id := C.gk_disk_add_go(C.uintptr_t(g.handle), &dev)
	if id < 0 {
		return 0, nil, fmt.Errorf("lkl: attach %s: %w", g.name, syscall.Errno(-id))
	}
	return int(id), dev, nil
}

// release flushes the device (unless it is read-only) once LKL sends it nothing more, says how many
// requests failed if more than the one reported, and frees the handle.
func (g *goDisk) release() error {
	g.handle.Delete()
	if n := g.failed.Load(); n > 1 {
		fmt.Fprintf(os.Stderr, "lkl: disk %s: %d requests failed in all\n", g.name, n)
	}
	if disk.IsReadOnly(g.dev) {
		return nil // nothing was written; its server may be gone already
	}
	if err := g.serve(blkFlush, nil, 0); err != nil {
		return fmt.Errorf("lkl: disk %s: %w", g.name, err)
	}
	return nil
}

//export gkBlkSize
func gkBlkSize(h C.uintptr_t) C.ulonglong {
	g := cgo.Handle(h).Value().(*goDisk)
	return C.ulonglong(max(g.dev.Size(), 0))
}

//export gkBlkSubmit
func gkBlkSubmit(h C.uintptr_t, req *C.struct_lkl_blk_req) {
	g := cgo.Handle(h).Value().(*goDisk)
	typ := req._type
	switch typ {
	case blkRead, blkWrite:
	case blkFlush, blkFlushOut:
		typ = blkFlush
	default:
		C.lkl_blk_req_complete(req, blkUnsupp)
		return
	}
	iov := unsafe.Slice(req.buf, int(req.count))
	segs := make([][]byte, len(iov))
	for i, v := range iov {
		segs[i] = unsafe.Slice((*byte)(v.iov_base), int(v.iov_len))
	}
	off := int64(req.sector) * 512
	g.inflight.Add(1)
	if g.local || (typ == blkRead && g.try != nil && g.tryRead(segs, off)) {
		// Inline: the device answers without waiting, so the kernel
		// waits for it as for its own host-file backend, and the request
		// costs no goroutine, timer or bounce buffer.
		g.inline.Add(1)
		var err error
		if g.local {
			err = g.call(typ, segs, off)
		}
		g.complete(req, err)
		return
	}
	g.async.Add(1)
	go func() { g.complete(req, g.serve(typ, segs, off)) }()
}

// tryRead reads the consecutive bytes at off into segs with the device's
// TryReadAt, and reports whether it could serve them all at once.
func (g *goDisk) tryRead(segs [][]byte, off int64) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false // the goroutine path reads again, and reports the panic
		}
	}()
	for _, s := range segs {
		if n, done := g.try.TryReadAt(s, off); !done || n != len(s) {
			return false
		}
		off += int64(len(s))
	}
	return true
}

// complete ends a request: an error is EIO, the first one printed. A
// request finishing after the kernel has gone is not completed.
func (g *goDisk) complete(req *C.struct_lkl_blk_req, err error) {
	defer g.inflight.Done()
	status := C.int(blkOK)
	if err != nil {
		status = blkIOErr
		g.failed.Add(1)
		if g.reported.CompareAndSwap(false, true) {
			fmt.Fprintf(os.Stderr, "lkl: disk %s: %v (the kernel sees EIO; later errors of this disk are counted, not printed)\n", g.name, err)
		}
	}
	g.gone.RLock()
	defer g.gone.RUnlock()
	if !g.gone.yes {
		C.lkl_blk_req_complete(req, status)
	}
}

// quiesce waits for the requests in flight to complete, then lets no
// more complete: the kernel is about to halt. With a timeout every
// request completes within it; without one a device that never answers
// keeps the kernel (and so Halt) waiting, as it would any system call.
func (g *goDisk) quiesce() {
	g.inflight.Wait()
	g.gone.Lock()
	g.gone.yes = true
	g.gone.Unlock()
}

// serve does one request. Without a timeout the device reads and writes
// the kernel's buffers. With one, it works on a copy in a goroutine of its
// own, which the request may leave behind: a device that answers late
// must not write into memory the kernel has reused.
func (g *goDisk) serve(typ C.uint, segs [][]byte, off int64) error {
	if g.timeout == 0 {
		return g.call(typ, segs, off)
	}
	if n := g.stuck.Load(); n > 0 {
		return fmt.Errorf("%s at %d: refused: the device has not answered %d earlier requests within %v", opName(typ), off, n, g.timeout)
	}
	total := 0
	for _, s := range segs {
		total += len(s)
	}
	r := &request{done: make(chan error, 1), buf: getBuf(total)}
	if typ == blkWrite {
		gather(*r.buf, segs)
	}
	go func() {
		err := g.call(typ, [][]byte{*r.buf}, off)
		if r.state.Swap(reqDone) == reqAbandoned {
			g.stuck.Add(-1)
			return
		}
		r.done <- err
	}()
	t := time.NewTimer(g.timeout)
	defer t.Stop()
	select {
	case err := <-r.done:
		return r.finish(typ, segs, err)
	case <-t.C:
	}
	g.stuck.Add(1)
	if !r.state.CompareAndSwap(reqPending, reqAbandoned) {
		g.stuck.Add(-1) // it answered just now
		return r.finish(typ, segs, <-r.done)
	}
	return fmt.Errorf("%s of %d bytes at %d: the device did not answer within %v (io_timeout)", opName(typ), total, off, g.timeout)
}

// A request is a Go device call that a timeout may abandon.
type request struct {
	state atomic.Int32
	done  chan error
	buf   *[]byte
}

const (
	reqPending int32 = iota
	reqDone
	reqAbandoned
)

// finish copies what a read got into the kernel's buffers.
func (r *request) finish(typ C.uint, segs [][]byte, err error) error {
	if err == nil && typ == blkRead {
		b := *r.buf
		for _, s := range segs {
			b = b[copy(s, b):]
		}
	}
	putBuf(r.buf)
	return err
}

// call runs one operation on the device: a read or write of the
// consecutive bytes at off into or from segs, or a flush. A panic in the
// device is an error.
func (g *goDisk) call(typ C.uint, segs [][]byte, off int64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s at %d: the device panicked: %v", opName(typ), off, p)
		}
	}()
	if typ != blkFlush {
		return g.transfer(typ, segs, off)
	}
	if err := g.dev.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// transfer reads or writes the consecutive bytes at off into or from
// segs: one segment with ReadAt or WriteAt, several with ReadvAt or
// WritevAt if the device has them, else through one buffer with one call
// (a device's call, a remote read or a cache lookup, usually costs more
// than the copy).
func (g *goDisk) transfer(typ C.uint, segs [][]byte, off int64) error {
	total := 0
	for _, s := range segs {
		total += len(s)
	}
	var n int
	var err error
	vr, readv := g.dev.(disk.VectorReader)
	vw, writev := g.dev.(disk.VectorWriter)
	switch {
	case typ == blkRead && len(segs) == 1:
		n, err = g.dev.ReadAt(segs[0], off)
	case typ == blkWrite && len(segs) == 1:
		n, err = g.dev.WriteAt(segs[0], off)
	case typ == blkRead && readv:
		n, err = vr.ReadvAt(segs, off)
	case typ == blkWrite && writev:
		n, err = vw.WritevAt(segs, off)
	case typ == blkRead:
		b := getBuf(total)
		if n, err = g.dev.ReadAt(*b, off); n == total {
			scatter(segs, *b)
		}
		putBuf(b)
	default:
		b := getBuf(total)
		gather(*b, segs)
		n, err = g.dev.WriteAt(*b, off)
		putBuf(b)
	}
	switch {
	case typ == blkRead && n == total && err == io.EOF:
		err = nil // io.ReaderAt allows EOF with a full read at the end
	case err == nil && n < total && typ == blkRead:
		err = io.ErrUnexpectedEOF
	case err == nil && n < total:
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("%s of %d bytes at %d: %w", opName(typ), total, off, err)
	}
	return nil
}

func opName(typ C.uint) string {
	switch typ {
	case blkRead:
		return "read"
	case blkWrite:
		return "write"
	}
	return "flush"
}

func gather(dst []byte, segs [][]byte) {
	for _, s := range segs {
		dst = dst[copy(dst, s):]
	}
}

func scatter(segs [][]byte, src []byte) {
	for _, s := range segs {
		src = src[copy(s, src):]
	}
}

// bufs recycles request buffers; a request is at most a few hundred KiB.
var bufs sync.Pool

func getBuf(n int) *[]byte {
	if p, ok := bufs.Get().(*[]byte); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n)
	return &b
}

func putBuf(p *[]byte) { bufs.Put(p) }
