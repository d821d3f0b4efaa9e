package eloop

import (
	"fmt"
	"net/netip"
	"runtime/debug"

	"github.com/gokernel/gokernel/aio"
)

// A Conn is one connection of a Server. Its methods must be called on
// the loop goroutine of the connection: from the Handler's callbacks, or
// from a task given to c.Loop().Post.
type Conn struct {
	sl     *serverLoop
	fd     int
	id     WatchID
	remote netip.AddrPort
	data   any // SetUserData's value

	out     []byte // pending output is out[head:]
	head    int
	reading bool       // reading is wanted: not paused by flow control, Close or end of stream
	watched aio.Events // the events registered with the poller
	closing bool       // Close was called or the peer ended: close once flushed
	closed  bool       // the socket is closed and OnClose called (or under way)

	// On io_uring (server_uring.go): output goes out one send at a time
	// from sending, while out collects the next; the two buffers swap.
	slot       uint64 // the token in the user data of c's operations
	ops        int    // c's operations in flight
	sending    []byte // the unsent rest of the send in flight or to resume
	sendBase   []byte // sending's whole buffer, reused once sent
	spare      []byte // the other buffer, empty
	held       []byte // received while paused, for OnData when reading resumes
	lent       bool   // sending is in a provided buffer, lentID, not Go memory
	lentID     uint16
	sendBusy   bool  // a send is in flight
	recvArmed  bool  // the multishot receive is in flight
	recvCancel bool  // its cancellation is queued
	udirty     bool  // on the loop's list for the end of the turn
	settled    bool  // fd closed, slot freed, OnClose called
	closeErr   error // for OnClose once settled
}

// Write copies p into c's output: what the socket takes is written at
// once, the rest when it is writable. When more than
// ServerOptions.MaxPending bytes are pending, reading from c pauses until
// half of them are sent. After Close, or once c is closed, Write returns
// an error satisfying errors.Is(err, net.ErrClosed); a failed write
// returns its error and closes c, with that error for OnClose.
func (c *Conn) Write(p []byte) error {
	if c.closing || c.closed {
		return fmt.Errorf("eloop: write: %w", aio.Socket.ErrClosed())
	}
	if c.sl.u.on { // sent at the end of the turn, with the others
		if !c.lend(p) {
			c.out = append(c.out, p...)
		}
		c.update()
		return nil
	}
	if c.pending() == 0 {
		n, wouldBlock, err := c.sl.s.nb.Write(c.fd, p)
		if err != nil {
			c.failLater(err)
			return err
		}
		if !wouldBlock {
			return nil
		}
		p = p[n:]
	}
	c.queue(p)
	c.update()
	return nil
}

// queue appends p to the pending output, reusing the buffer's space.
func (c *Conn) queue(p []byte) {
	if c.head > 0 && len(c.out)+len(p) > cap(c.out) {
		n := copy(c.out, c.out[c.head:])
		c.out = c.out[:n]
		c.head = 0
	}
	c.out = append(c.out, p...)
}

// pending returns the number of bytes of output not yet written.
func (c *Conn) pending() int { return len(c.out) - c.head + len(c.sending) }

// Close flushes c's pending output as the socket allows, without
// blocking, then closes it; OnClose(c, nil) follows, on a later turn of
// the loop. Reading stops at once. Close after Close returns an error
// satisfying errors.Is(err, net.ErrClosed).
func (c *Conn) Close() error {
	if c.closing || c.closed {
		return fmt.Errorf("eloop: close: %w", aio.Socket.ErrClosed())
	}
	c.closing = true
	c.update()
	if c.pending() == 0 {
		c.sl.l.postInternal(func() { c.closeNow(nil) })
	}
	return nil
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// SetUserData attaches v to c: the Handler's own per-connection state
// (a parser, a session), kept until c is dropped.
func (c *Conn) SetUserData(v any) { c.data = v }

// UserData returns what SetUserData attached to c, or nil.
func (c *Conn) UserData() any { return c.data }

// Loop returns the loop c lives on.
func (c *Conn) Loop() *Loop { return c.sl.l }

// update sets the watched events to what c needs, level-triggered:
// Read unless paused or closing, Write while output is pending. Reading
// pauses when more than MaxPending bytes are pending and resumes when at
// most half of that is.
func (c *Conn) update() {
	if c.closed {
		return
	}
	max, p := c.sl.s.opts.MaxPending, c.pending()
	switch {
	case c.closing, p > max:
		c.reading = false
	case p <= max/2:
		c.reading = true
	}
	if c.sl.u.on {
		c.markDirty() // the end of the turn sends, and arms or cancels the receive
		return
	}
	var ev aio.Events
	if c.reading {
		ev |= aio.Read
	}
	if p > 0 {
		ev |= aio.Write
	}
	if ev == c.watched {
		return
	}
	c.watched = ev
	if err := c.sl.l.p.Modify(c.fd, ev, uint64(c.id)); err != nil {
		c.failLater(err)
	}
}

// onEvent handles the poller's report for c.
func (c *Conn) onEvent(ev aio.Events) {
	if c.closed {
		return
	}
	if ev&(aio.Write|aio.HUP|aio.Error) != 0 && c.pending() > 0 {
		if !c.flush() {
			return
		}
		if c.closing && c.pending() == 0 {
			c.closeNow(nil)
			return
		}
		c.update()
	}
	if c.closing {
		return
	}
	if ev&aio.Read != 0 && c.reading || ev&(aio.HUP|aio.Error) != 0 {
		c.read()
	}
}

// flush writes what the socket takes of the pending output; false means
// c failed and is closed.
func (c *Conn) flush() bool {
	if c.pending() == 0 || c.closed {
		return !c.closed
	}
	if c.sl.u.on {
		c.flushNow()
		return true
	}
	n, _, err := c.sl.s.nb.Write(c.fd, c.out[c.head:])
	c.head += n
	if c.head == len(c.out) {
		c.out, c.head = c.out[:0], 0
	}
	if err != nil {
		c.fail(err)
		return false
	}
	return true
}

// read makes one read into the loop's buffer and hands it to OnData.
func (c *Conn) read() {
	buf := c.sl.buf
	n, wouldBlock, err := c.sl.s.nb.Read(c.fd, buf)
	switch {
	case wouldBlock:
	case err != nil:
		c.fail(err)
	case n == 0: // the peer ended: send what is pending, then close
		c.closing = true
		if c.pending() == 0 {
			c.closeNow(nil)
			return
		}
		c.update()
	default:
		c.onData(buf[:n])
	}
}

// fail closes c at once, dropping pending output, with err for OnClose.
func (c *Conn) fail(err error) { c.closeNow(err) }

// failLater is fail for calls made from the Handler (Write): it drops
// the pending output and stops c's events at once, but closes c and calls
// OnClose on a later turn, so OnClose does not run inside the Handler's
// own call.
func (c *Conn) failLater(err error) {
	if c.closing && c.pending() == 0 {
		return // already on its way out
	}
	c.closing = true
	c.out, c.head = c.out[:0], 0
	c.sl.l.postInternal(func() { c.closeNow(err) })
}

// closeNow closes c's socket and calls OnClose(c, err), once.
func (c *Conn) closeNow(err error) {
	if c.closed {
		return
	}
	c.closed, c.closing = true, true
	if c.sl.u.on {
		c.closeUring(err)
		return
	}
	c.sl.l.Unwatch(c.id) // errors: the registration is gone regardless
	c.sl.s.lc.Close(c.fd)
	delete(c.sl.conns, c)
	c.out, c.head = nil, 0
	c.onClose(err)
}

// onOpen calls OnOpen, recovering a panic, and does what it asks.
func (c *Conn) onOpen() {
	defer c.recoverPanic()
	c.act(c.sl.s.h.OnOpen(c))
}

// onData calls OnData, recovering a panic, and does what it asks.
func (c *Conn) onData(p []byte) {
	defer c.recoverPanic()
	c.act(c.sl.s.h.OnData(c, p))
}

// onClose calls OnClose, recovering a panic, and does what it asks.
func (c *Conn) onClose(err error) {
	defer c.recoverPanic()
	c.act(c.sl.s.h.OnClose(c, err))
}

// act does what a Handler callback of c returned.
func (c *Conn) act(a Action) {
	switch a {
	case Close:
		if !c.closing && !c.closed {
			c.Close()
		}
	case Shutdown:
		c.sl.s.Close() // ends Serve, which closes every connection
	}
}

// recoverPanic, deferred around a Handler callback of c, reports a panic
// as the loop reports panics and closes c with a *PanicError (unless c
// is already closed: a panic in OnClose is only reported).
func (c *Conn) recoverPanic() {
	v := recover()
	if v == nil {
		return
	}
	stack := debug.Stack()
	c.sl.l.panicked(v, stack)
	c.closeNow(&PanicError{Value: v, Stack: stack})
}
