package unet

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
)

// This file is the completion-based receive of unet's TCP conns on
// io_uring (docs/aio.md, "Completion-based receive"): once a Read finds
// its socket empty, the dispatcher arms a multishot IORING_OP_RECV on it
// that takes buffers from the dispatcher's provided buffer ring; each
// completion queues the buffer on the conn and wakes its reader, and Read
// copies from the queue and gives the buffers back, with no system call.
// The socket's poll then watches writability only.
//
// A receive that ends for want of buffers (ENOBUFS), that the kernel
// refuses, or that a raw read (SyscallConn) stops, turns the conn back to
// the poll path for good: its reader first takes what is queued, then
// reads with read(2) as on epoll. A receive ends also at end of stream
// (queued after the data, as io.EOF) and on an error (queued after the
// data, returned by every later Read).

// The modes of a conn's receive (recvQueue.mode).
const (
	recvNone int32 = iota // reads are read(2)s, and a receive may start
	recvOn                // a multishot receive is asked for or armed: Read takes from the queue
	recvOff               // for good: read(2)s, after what the queue holds
)

// uringRecvBufs sizes a dispatcher's provided buffer ring (a variable: the
// tests make it tiny to run it dry).
var uringRecvBufs = struct{ count, size int }{count: 256, size: 16 << 10}

// recvGroup is the buffer group of a dispatcher's ring.
const recvGroup = 1

// errRawRead is a raw read's error on a conn whose receive queue holds
// bytes that the raw read would skip.
var errRawRead = errors.New("unet: raw read on a conn holding received bytes (io_uring receive)")

// A recvQueue is what a conn's multishot receive has delivered and its
// reader has not yet taken.
type recvQueue struct {
	mode atomic.Int32

	mu     sync.Mutex
	chunks []recvChunk // in order
	eof    bool        // after the chunks: the peer ended
	err    error       // after the chunks: the receive failed
}

// A recvChunk is the part of a provided buffer not yet read.
type recvChunk struct {
	id     uint16
	off, n int32
}

// recvEligible reports whether fd may receive by completion: a TCP conn
// on an io_uring dispatcher that has a buffer ring.
func (fd *netFD) recvEligible() bool {
	return fd.ud != nil && fd.ud.br != nil && !fd.ud.noRecv.Load() && fd.sotype == unix.SOCK_STREAM &&
		(fd.family == unix.AF_INET || fd.family == unix.AF_INET6)
}

// startRecv asks the dispatcher for fd's multishot receive, once; the
// caller holds the read lock and has just found the socket empty.
func (fd *netFD) startRecv() {
	if fd.rq.mode.CompareAndSwap(recvNone, recvOn) {
		fd.ud.send(uringCmd{kind: cmdRecv, fd: fd})
	}
}

// takeRecv is Read's try in recvOn mode: it copies what the queue holds
// into p. done is false when the receive has ended for good with an empty
// queue: the caller reads the socket itself.
func (fd *netFD) takeRecv(p []byte) (n int, wouldBlock, done bool, err error) {
	q := &fd.rq
	// The mode before the queue: the dispatcher queues the receive's
	// last chunk before it turns the mode off.
	off := q.mode.Load() == recvOff
	q.mu.Lock()
	if len(q.chunks) == 0 {
		eof, qerr := q.eof, q.err
		q.mu.Unlock()
		switch {
		case qerr != nil:
			return 0, false, true, qerr
		case eof:
			return 0, false, true, nil
		case off:
			return 0, false, false, nil
		}
		return 0, true, true, nil
	}
	br := fd.ud.br
	var free [8]uint16
	nfree := 0
	i := 0
	for ; i < len(q.chunks) && n < len(p); i++ {
		c := &q.chunks[i]
		m := copy(p[n:], br.Buf(c.id)[c.off:c.n])
		n += m
		c.off += int32(m)
		if c.off < c.n {
			break
		}
		if nfree == len(free) {
			fd.ud.recycle(free[:nfree])
			nfree = 0
		}
		free[nfree] = c.id
		nfree++
	}
	if i == len(q.chunks) {
		q.chunks = q.chunks[:0]
	} else {
		q.chunks = q.chunks[i:]
	}
	q.mu.Unlock()
	if nfree > 0 {
		fd.ud.recycle(free[:nfree])
	}
	return n, false, true, nil
}

// recvPending reports whether fd's queue holds bytes, or has the receive
// on: a splice from fd would skip them.
func (fd *netFD) recvPending() bool {
	if fd.rq.mode.Load() == recvOn {
		return true
	}
	fd.rq.mu.Lock()
	defer fd.rq.mu.Unlock()
	return len(fd.rq.chunks) > 0
}

// stopRecv ends fd's receive for a raw read (the read lock is held) and
// waits until it has ended; errRawRead if bytes stay queued.
func (fd *netFD) stopRecv() error {
	if fd.rq.mode.CompareAndSwap(recvNone, recvOff) {
		return nil
	}
	if fd.rq.mode.Load() == recvOn {
		reply := make(chan struct{})
		fd.ud.send(uringCmd{kind: cmdStopRecv, fd: fd, reply: reply})
		<-reply
	}
	fd.rq.mu.Lock()
	defer fd.rq.mu.Unlock()
	if len(fd.rq.chunks) > 0 {
		return errRawRead
	}
	return nil
}

// dropRecv gives back the buffers a closed conn still holds; its receive
// has ended (remove returned).
func (fd *netFD) dropRecv() {
	q := &fd.rq
	q.mu.Lock()
	ids := make([]uint16, 0, len(q.chunks))
	for _, c := range q.chunks {
		ids = append(ids, c.id)
	}
	q.chunks = nil
	q.mu.Unlock()
	if len(ids) > 0 {
		fd.ud.recycle(ids)
	}
}

// recycle gives buffers back to the kernel; any goroutine may.
func (d *uringDisp) recycle(ids []uint16) {
	d.bufMu.Lock()
	for _, id := range ids {
		d.br.Recycle(id)
	}
	d.br.Publish()
	d.bufMu.Unlock()
	d.stats.recycled.Add(uint64(len(ids)))
}

// envUringRecv turns the completion-based receive on ("1"); it is off by
// default, because it measured no cheaper than the poll path
// (docs/aio.md, "Completion-based receive").
const envUringRecv = "GOKERNEL_URING_RECV"

// uringRecvForce turns the receive on whatever the environment says (the
// tests).
var uringRecvForce bool

// setupRecv makes the dispatcher's buffer ring when the receive is on;
// without one (off, a kernel before 5.19, or no memory) every conn stays
// on the poll path.
func (d *uringDisp) setupRecv() {
	if p, err := d.r.Probe(); err != nil || !p.Supports(aio.OpRecv) {
		return
	}
	if os.Getenv(envUringRecv) != "1" && !uringRecvForce {
		return
	}
	br, err := d.r.NewBufRing(recvGroup, uringRecvBufs.count, uringRecvBufs.size)
	if err != nil {
		return
	}
	d.br = br
}

// recvUD is the user data of op's receive.
func recvUD(op *uringOp) uint64 { return ukindRecv<<56 | op.ud&(1<<56-1) }

// pollMaskOf is what op's poll watches: with a receive on, writability
// only (and, always, hang-up and errors).
func pollMaskOf(op *uringOp) uint32 {
	if op.recvWant {
		return aio.PollMask(aio.Write | aio.EdgeTriggered)
	}
	return aio.PollMask(pollEvents)
}

// setPoll re-arms op's poll with what it should watch now: the poll is
// cancelled, and its last completion arms it again (rearm).
func (d *uringDisp) setPoll(op *uringOp) {
	if op.armed && !op.rearm {
		op.rearm = true
		d.cancel(op.ud)
	}
}

// doRecv runs a command that starts or stops op's receive.
func (d *uringDisp) doRecv(c uringCmd, op *uringOp) {
	if c.kind == cmdRecv {
		if op.removing != nil || op.recvWant || op.recvOff {
			return
		}
		op.recvWant = true
		d.unarmedRecv = append(d.unarmedRecv, op)
		d.setPoll(op)
		return
	}
	// cmdStopRecv
	if op.recvOff {
		close(c.reply)
		return
	}
	if !op.recvArmed {
		d.recvEnded(op)
		close(c.reply)
		return
	}
	op.recvStopped = c.reply
	if !op.recvCancel {
		op.recvCancel = true
		d.cancel(recvUD(op))
	}
}

// armRecvs arms the receives waiting for an entry.
func (d *uringDisp) armRecvs() {
	for len(d.unarmedRecv) > 0 {
		op := d.unarmedRecv[0]
		if !op.recvWant || op.recvArmed || op.removing != nil || d.ops[op.ud] != op {
			d.unarmedRecv = d.unarmedRecv[1:]
			continue
		}
		s := d.sqe()
		if s == nil {
			return
		}
		d.unarmedRecv = d.unarmedRecv[1:]
		s.PrepRecvMultishot(op.fd.Sysfd, recvGroup, 0)
		s.UserData = recvUD(op)
		op.recvArmed = true
		d.inflight++
		if uringRecvFault != nil {
			if err := uringRecvFault(); err != nil {
				*s = aio.SQE{} // the kernel sees a plain nop; its completion says err
				s.PrepNop()
				s.UserData = recvUD(op)
				d.faulted[recvUD(op)] = err
			}
		}
	}
}

// uringRecvFault, when set (tests), fails the arming of receives: a
// non-nil error is the completion's.
var uringRecvFault func() error

// recvEnded turns op's conn back to the poll path for good, after its
// receive's last completion.
func (d *uringDisp) recvEnded(op *uringOp) {
	op.recvWant, op.recvOff = false, true
	op.fd.rq.mode.Store(recvOff)
	op.fd.rseq.Add(1) // a read(2) must look, not skip
	d.setPoll(op)
	if !op.armed && op.removing == nil {
		// Not in flight (ended on errors): arm it with the new mask.
		op.fails = 0
		d.unarmed = append(d.unarmed, op)
	}
	op.fd.PD.Notify(aio.Read)
	d.notified++
}

// completeRecv handles a completion of op's receive.
func (d *uringDisp) completeRecv(c aio.CQE, op *uringOp) {
	if err, ok := d.faulted[c.UserData]; ok {
		delete(d.faulted, c.UserData)
		c.Res, c.Flags = -int32(err.(syscall.Errno)), 0
	}
	final := !c.More()
	if final {
		op.recvArmed = false
		d.inflight--
	}
	q := &op.fd.rq
	id, hasBuf := c.BufferID()
	ended := false
	switch err := c.Err(); {
	case c.Res > 0 && hasBuf:
		q.mu.Lock()
		q.chunks = append(q.chunks, recvChunk{id: id, n: c.Res})
		q.mu.Unlock()
		hasBuf = false
	case c.Res > 0: // bytes but no buffer (not expected): read(2) finds them
		ended = true
	case c.Res == 0:
		q.mu.Lock()
		q.eof = true
		q.mu.Unlock()
	case err == syscall.ECANCELED:
		ended = op.removing == nil // a raw read's stop, not a Close
	case err == syscall.ENOBUFS:
		d.countStarved()
		ended = true
	case err == syscall.EINVAL || err == syscall.EOPNOTSUPP:
		d.noRecv.Store(true) // the kernel has no multishot receive: none again
		ended = true
	default:
		q.mu.Lock()
		q.err = os.NewSyscallError("recv", err)
		q.mu.Unlock()
	}
	if hasBuf { // a buffer with no bytes for the conn (not expected)
		d.recycle([]uint16{id})
	}
	op.fd.PD.Notify(aio.Read)
	d.notified++
	if !final {
		return
	}
	op.recvCancel = false
	switch {
	case op.removing != nil:
		if !op.armed {
			d.end(op)
		}
	case ended:
		d.recvEnded(op)
		if op.recvStopped != nil {
			close(op.recvStopped)
			op.recvStopped = nil
		}
	case c.Res > 0 && op.recvWant:
		// Ended with data (the completion queue was full): go on.
		d.unarmedRecv = append(d.unarmedRecv, op)
	}
}

// countStarved counts a receive that ran out of buffers.
func (d *uringDisp) countStarved() {
	d.stats.mu.Lock()
	d.stats.starved++
	d.stats.mu.Unlock()
}
