package eloop

import (
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/libgo"
)

// This file is the stream server on io_uring (docs/aio.md): a multishot
// accept per listener, a multishot receive per connection into the
// loop's ring of provided buffers, and the turn's output of every
// connection sent in one submit. A connection's operations are counted;
// closing one cancels what is in flight, and its fd is closed (and
// OnClose called) only once the last of their completions is reaped, so
// no operation outlives the fd or the connection, and no completion
// arrives for a slot given to another.

// recvBuffers is the number of provided buffers per loop, of at most
// maxRecvBuffer bytes each (ServerOptions.ReadBuffer, if smaller). The
// kernel takes the buffers in turn, so all of them are touched: at 64 ×
// 64 KiB the copies of the 16 KiB echo ran from cold memory, and its
// CPU per message fell by about a sixth with 16 KiB buffers (alternated
// runs on the shared 2-core VM: 4.3-5.8 against 5.7-6.3 µs).
const (
	recvBuffers   = 64
	maxRecvBuffer = 16 << 10
)

// listenerToken is the token in the user data of a server loop's accept
// (a connection's is its slot's).
const listenerToken = 0

// serverRing is a server loop's io_uring state (loop goroutine only).
type serverRing struct {
	on           bool
	br           *aio.BufRing
	conns        aio.Slots[*Conn] // by the slot in their operations' user data
	dirty        []*Conn          // connections with output to send or a receive to (re)arm
	acceptArmed  bool
	acceptCancel bool // the accept is being cancelled: close the listener when it ends
	stale        int  // completions that matched no current connection (never expected)

	// The provided buffer OnData is reading, so that a Write of those
	// bytes can send them from it instead of copying them (lend).
	cur     *Conn
	curID   uint16
	curBuf  []byte
	curLent bool
	lent    int        // buffers lent to sends
	bufs    []bufState // by buffer ID
	cancels int        // cancellations queued: of a receive (pause, Close), or of all at a close
}

// startUring runs on the loop before its first turn: it sets the server
// loop up on the ring, or on the Poller when the loop fell back to epoll.
func (sl *serverLoop) startUring() {
	u := &sl.l.u
	if u.r == nil || sl.lfd < 0 {
		sl.watchListener()
		return
	}
	size := min(sl.s.opts.ReadBuffer, maxRecvBuffer)
	br, err := u.r.NewBufRingFlags(0, recvBuffers, size, aio.BufRingIncremental)
	if err != nil { // before Linux 6.12: whole buffers
		br, err = u.r.NewBufRing(0, recvBuffers, size)
	}
	if err != nil {
		sl.watchListener() // the ring has no provided buffers: readiness, then
		return
	}
	sl.u.on, sl.u.br = true, br
	sl.u.bufs = make([]bufState, br.Count())
	for i := range sl.u.bufs {
		sl.u.bufs[i].kernel = true // NewBufRing gave every buffer
	}
	u.complete, u.turnEnd, u.release = sl.complete, sl.turnEnd, sl.releaseRing
	sl.armAccept()
}

// watchListener watches the listener with the Poller (the epoll path).
func (sl *serverLoop) watchListener() {
	if sl.lfd < 0 || sl.lid != 0 {
		return
	}
	if sl.buf == nil {
		sl.buf = make([]byte, sl.s.opts.ReadBuffer)
	}
	id, err := sl.l.Watch(sl.lfd, aio.Read, sl.onAccept)
	if err != nil {
		sl.s.acceptEr.Add(1)
		return
	}
	sl.lid = id
}

// releaseRing frees the provided buffers before the ring closes.
func (sl *serverLoop) releaseRing() {
	if sl.u.br != nil {
		sl.u.br.Close()
		sl.u.br = nil
	}
}

// armAccept queues the listener's multishot accept.
func (sl *serverLoop) armAccept() {
	if sl.lfd < 0 || sl.u.acceptArmed || sl.u.acceptCancel {
		return
	}
	s := sl.l.u.sqe()
	if s == nil {
		return // turnEnd tries again
	}
	s.PrepAcceptMultishot(sl.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	s.UserData = userData(kindAccept, listenerToken)
	sl.u.acceptArmed = true
	sl.l.u.ops++
}

// closeListenerUring closes the listener: at once if no accept is in
// flight, else once the cancelled accept has ended.
func (sl *serverLoop) closeListenerUring() {
	if !sl.u.acceptArmed {
		sl.s.lc.Close(sl.lfd)
		sl.lfd = -1
		return
	}
	if !sl.u.acceptCancel && sl.l.u.cancel(userData(kindAccept, listenerToken), -1, 0) {
		sl.u.acceptCancel = true
	}
}

// complete handles one completion of the server loop's operations.
func (sl *serverLoop) complete(cqe aio.CQE) {
	kind := uint8(cqe.UserData >> 56)
	if kind == kindAccept {
		sl.accepted(cqe)
		return
	}
	c, gen, ok := sl.u.conns.GetIndex(uint32(cqe.UserData))
	if !ok || gen&0xffffff != uint32(cqe.UserData>>32)&0xffffff {
		sl.u.stale++
		sl.recycle(cqe)
		return
	}
	switch kind {
	case kindRecv:
		c.received(cqe)
	case kindSend:
		c.sent(cqe)
	}
}

// accepted handles a completion of the multishot accept.
func (sl *serverLoop) accepted(cqe aio.CQE) {
	if !cqe.More() {
		sl.u.acceptArmed = false
		sl.l.u.ops--
		if sl.u.acceptCancel {
			sl.u.acceptCancel = false
			if sl.lfd >= 0 {
				sl.s.lc.Close(sl.lfd)
				sl.lfd = -1
			}
		}
	}
	switch err := cqe.Err(); {
	case err == nil:
		if sl.lfd < 0 || sl.l.u.draining {
			sl.s.lc.Close(int(cqe.Res))
			return
		}
		sl.openUring(int(cqe.Res))
	case err != syscall.ECANCELED:
		sl.s.acceptEr.Add(1) // armed again at the end of the turn
	}
}

// openUring sets up a connection accepted through the ring and calls
// OnOpen; its receive is armed at the end of the turn.
func (sl *serverLoop) openUring(fd int) {
	sl.s.lc.SetNoDelay(fd, true) // best effort, as on the epoll path
	var remote netip.AddrPort    // the multishot accept gives no address
	if sa, err := sl.s.lc.Getpeername(fd); err == nil {
		remote = libgo.AddrPort(sa)
	}
	c := &Conn{sl: sl, fd: fd, remote: remote, reading: true}
	c.slot = sl.u.conns.Add(c)
	sl.conns[c] = struct{}{}
	c.markDirty()
	c.onOpen()
}

// bufState is what the server loop knows of one provided buffer.
type bufState struct {
	off    int   // where the next data goes in it (incremental buffers)
	kernel bool  // the kernel has it: given and not yet done with
	lends  int16 // sends from it in flight (Conn.lend)
}

// take returns the bytes a receive's completion put in its provided
// buffer, and notes what the completion says of the buffer: the kernel
// is done with it unless CQEFBufMore. The bytes are valid until the
// buffer goes back (release).
func (u *serverRing) take(cqe aio.CQE) (id uint16, data []byte, ok bool) {
	id, ok = cqe.BufferID()
	if !ok || u.br == nil || int(id) >= len(u.bufs) {
		return 0, nil, false
	}
	b := &u.bufs[id]
	if n := int(cqe.Res); n > 0 && b.off+n <= u.br.Size() {
		data = u.br.Buf(id)[b.off : b.off+n]
	}
	if cqe.BufMore() {
		b.off += max(int(cqe.Res), 0)
	} else {
		b.off, b.kernel = 0, false
	}
	return id, data, true
}

// release gives buffer id back to the kernel once neither the kernel nor
// a send uses it.
func (u *serverRing) release(id uint16) {
	b := &u.bufs[id]
	if b.kernel || b.lends > 0 || u.br == nil {
		return
	}
	b.kernel = true
	u.br.Recycle(id)
	u.br.Publish()
}

// recycle settles the provided buffer of a completion whose bytes are
// dropped.
func (sl *serverLoop) recycle(cqe aio.CQE) {
	if id, _, ok := sl.u.take(cqe); ok {
		sl.u.release(id)
	}
}

// turnEnd runs before each submit: it arms the accept again if it ended,
// and queues each dirty connection's send and receive. It reports
// whether connections are dirty again (held bytes delivered now wrote
// more, or the queue was full), so the loop does not block in its wait.
func (sl *serverLoop) turnEnd() (more bool) {
	if !sl.u.acceptArmed && sl.lfd >= 0 {
		sl.armAccept()
	}
	dirty := sl.u.dirty
	sl.u.dirty = dirty[len(dirty):]
	for i, c := range dirty {
		c.udirty = false
		if !c.queueOps() {
			// No free entry: the rest wait for the next turn.
			for _, c := range dirty[i:] {
				c.markDirty()
			}
			break
		}
	}
	clear(dirty)
	if len(sl.u.dirty) == 0 {
		sl.u.dirty = dirty[:0]
	}
	return len(sl.u.dirty) > 0
}

// markDirty puts c on its loop's list for the end of the turn.
func (c *Conn) markDirty() {
	if !c.udirty {
		c.udirty = true
		c.sl.u.dirty = append(c.sl.u.dirty, c)
	}
}

// queueOps queues c's send (its output since the last one) and arms or
// cancels its receive as flow control and closing say. It reports false
// when the submission queue had no free entry.
func (c *Conn) queueOps() bool {
	if c.closed {
		return true
	}
	u := &c.sl.l.u
	c.deliverHeld()
	if c.closed {
		return true
	}
	if !c.sendBusy && c.pending() > 0 {
		s := u.sqe()
		if s == nil {
			return false
		}
		if len(c.sending) == 0 {
			c.sending, c.sendBase, c.out, c.spare = c.out, c.out, c.spare[:0], nil
		}
		s.PrepSend(c.fd, c.sending, unix.MSG_NOSIGNAL)
		s.UserData = userData(kindSend, c.slot)
		c.sendBusy = true
		c.ops++
		u.ops++
	}
	want := c.reading && !c.closing
	switch {
	case want && !c.recvArmed:
		s := u.sqe()
		if s == nil {
			return false
		}
		s.PrepRecvMultishot(c.fd, c.sl.u.br.Group(), 0)
		if u.tune.pollfirst {
			s.Ioprio |= aio.RecvSendPollFirst
		}
		s.UserData = userData(kindRecv, c.slot)
		c.recvArmed = true
		c.ops++
		u.ops++
	case !want && c.recvArmed && !c.recvCancel:
		if !u.cancel(userData(kindRecv, c.slot), -1, 0) {
			return false
		}
		c.recvCancel = true
		c.sl.u.cancels++
	}
	return true
}

// deliverHeld hands the bytes received while c was paused to OnData,
// ReadBuffer bytes at a time, while c reads.
func (c *Conn) deliverHeld() {
	size := c.sl.s.opts.ReadBuffer
	for len(c.held) > 0 && c.reading && !c.closing && !c.closed {
		n := min(size, len(c.held))
		chunk := c.held[:n]
		c.held = c.held[n:]
		c.onData(chunk)
	}
	if len(c.held) == 0 {
		c.held = nil
	}
}

// received handles a completion of c's multishot receive.
func (c *Conn) received(cqe aio.CQE) {
	if !cqe.More() {
		c.recvArmed, c.recvCancel = false, false
		c.opDone()
	}
	u := &c.sl.u
	id, data, ok := u.take(cqe)
	if ok {
		defer u.release(id)
	}
	if c.closed {
		c.settle()
		return
	}
	switch err := cqe.Err(); {
	case cqe.Res > 0:
		switch {
		case len(data) == 0 || c.closing:
		case c.reading && len(c.held) == 0:
			u.cur, u.curID, u.curBuf, u.curLent = c, id, data, false
			c.onData(data)
			u.cur, u.curBuf = nil, nil
		default:
			// Paused by flow control, and the receive is not cancelled
			// yet: keep the bytes for when reading resumes.
			c.held = append(c.held, data...)
		}
	case cqe.Res == 0: // the peer ended: send what is pending, then close
		c.closing = true
		if c.pending() == 0 && !c.sendBusy {
			c.closeNow(nil)
			return
		}
	case err == syscall.ENOBUFS, err == syscall.ECANCELED:
		// Out of buffers (armed again below, once they are back), or
		// paused by flow control or Close.
	default:
		c.fail(os.NewSyscallError("recv", err))
		return
	}
	if !c.recvArmed && !c.closed {
		c.markDirty()
	}
}

// sent handles the completion of c's send.
func (c *Conn) sent(cqe aio.CQE) {
	c.sendBusy = false
	c.opDone()
	if c.closed {
		c.settle()
		return
	}
	if err := cqe.Err(); err != nil {
		c.giveBack()
		c.sending, c.sendBase = nil, nil
		c.fail(os.NewSyscallError("send", err))
		return
	}
	c.sending = c.sending[cqe.Res:]
	switch {
	case c.lent && len(c.sending) > 0:
		// A short send from a lent buffer: the rest goes to Go memory,
		// so that the buffer goes back now, not when the peer reads.
		rest := append(c.spare[:0], c.sending...)
		c.sending, c.sendBase, c.spare = rest, rest, nil
		c.giveBack()
	case c.lent:
		c.giveBack()
		c.sending = nil
	case len(c.sending) == 0:
		c.spare, c.sending, c.sendBase = c.sendBase[:0], nil, nil
	}
	if c.closing && c.pending() == 0 {
		c.closeNow(nil)
		return
	}
	c.update()
	if c.pending() > 0 {
		c.markDirty()
	}
}

// opDone counts down one operation of c whose last completion came.
func (c *Conn) opDone() {
	c.ops--
	c.sl.l.u.ops--
}

// closeUring is closeNow on io_uring: with operations in flight it
// cancels them and leaves the rest to settle, which the last completion
// calls.
func (c *Conn) closeUring(err error) {
	c.closeErr = err
	c.out, c.spare = nil, nil
	if c.ops > 0 && c.sl.l.u.r != nil {
		c.sl.u.cancels++
		c.sl.l.u.cancel(0, c.fd, aio.CancelFD|aio.CancelAll)
		return
	}
	c.settle()
}

// settle finishes a closed connection once no operation of it is in
// flight: closes the fd, frees its slot and calls OnClose.
func (c *Conn) settle() {
	if c.ops > 0 && c.sl.l.u.r != nil || c.settled {
		return
	}
	c.settled = true
	c.giveBack()
	c.sl.u.conns.Remove(c.slot)
	c.sl.s.lc.Close(c.fd)
	delete(c.sl.conns, c)
	c.sending, c.sendBase = nil, nil
	c.onClose(c.closeErr)
}

// flushNow writes what the socket takes of c's output at once, with
// plain non-blocking writes, as a server that shuts down does; a send in
// flight leaves the rest unwritten, since it must go first.
func (c *Conn) flushNow() {
	if c.sendBusy {
		return
	}
	for _, b := range [][]byte{c.sending, c.out} {
		if len(b) == 0 {
			continue
		}
		n, _, err := c.sl.s.nb.Write(c.fd, b)
		if err != nil || n < len(b) {
			return
		}
	}
}

// lend makes p, the bytes OnData was given (or part of them), c's next
// send, straight from the provided buffer they are in, when c has no
// output before them and no more than half the buffers are lent: the
// echo of a message then costs no copy. It reports whether it did; the
// buffer goes back when the send is done (giveBack).
func (c *Conn) lend(p []byte) bool {
	u := &c.sl.u
	if u.cur != c || u.curLent || len(p) == 0 || c.pending() > 0 || c.sendBusy || u.lent >= u.br.Count()/2 {
		return false
	}
	start, end := uintptr(unsafe.Pointer(&u.curBuf[0])), uintptr(unsafe.Pointer(&u.curBuf[len(u.curBuf)-1]))
	if a, b := uintptr(unsafe.Pointer(&p[0])), uintptr(unsafe.Pointer(&p[len(p)-1])); a < start || b > end {
		return false
	}
	u.curLent = true
	u.lent++
	u.bufs[u.curID].lends++
	c.lent, c.lentID, c.sending = true, u.curID, p
	return true
}

// giveBack returns the buffer c's send was lent, if any.
func (c *Conn) giveBack() {
	if !c.lent {
		return
	}
	c.lent = false
	u := &c.sl.u
	u.lent--
	if u.br != nil {
		u.bufs[c.lentID].lends--
		u.release(c.lentID)
	}
}
