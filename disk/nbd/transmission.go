package nbd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Transmission constants of doc/proto.md ("Transmission", "Request types").
const (
	requestMagic    = 0x25609513 // NBD_REQUEST_MAGIC
	simpleMagic     = 0x67446698 // NBD_SIMPLE_REPLY_MAGIC
	structuredMagic = 0x668e33ef // NBD_STRUCTURED_REPLY_MAGIC (never negotiated)

	cmdRead        = 0 // NBD_CMD_READ
	cmdWrite       = 1 // NBD_CMD_WRITE
	cmdDisc        = 2 // NBD_CMD_DISC
	cmdFlush       = 3 // NBD_CMD_FLUSH
	cmdTrim        = 4 // NBD_CMD_TRIM
	cmdWriteZeroes = 6 // NBD_CMD_WRITE_ZEROES

	errShutdown = 108 // ESHUTDOWN: the server is going away
)

var cmdNames = [...]string{cmdRead: "read", cmdWrite: "write", cmdDisc: "disconnect", cmdFlush: "flush", cmdTrim: "trim", cmdWriteZeroes: "write-zeroes"}

// An Error is a server's error reply to a request: the error field of
// NBD_SIMPLE_REPLY_MAGIC's reply. errors.Is(err, syscall.EIO) and the like
// hold: the protocol's error values are Linux errno values (NBD_EPERM 1,
// NBD_EIO 5, NBD_ENOMEM 12, NBD_EINVAL 22, NBD_ENOSPC 28, NBD_EOVERFLOW 75,
// NBD_ENOTSUP 95, NBD_ESHUTDOWN 108); any other value is reported as EIO.
type Error struct {
	Op    string        // "read", "write", "flush", "trim", "write-zeroes"
	Off   int64         // the request's offset
	Len   uint32        // the request's length
	Code  uint32        // the value the server sent
	Errno syscall.Errno // Code as an errno
}

func (e *Error) Error() string {
	return fmt.Sprintf("nbd: %s of %d bytes at %d: server error %d: %v", e.Op, e.Len, e.Off, e.Code, e.Errno)
}

func (e *Error) Unwrap() error { return e.Errno }

// errnoOf maps an NBD error value to an errno ("Error values").
func errnoOf(code uint32) syscall.Errno {
	switch code {
	case 1, 5, 12, 22, 28, 75, 95, errShutdown:
		return syscall.Errno(code)
	}
	return syscall.EIO
}

// A call is one request in flight. done receives its outcome once; buf is
// where a read's data goes, written by the reader goroutine only while the
// call's sender waits for done.
type call struct {
	cmd  uint16
	off  int64
	n    uint32
	buf  []byte
	done chan error
}

// send registers a request and writes it (28 bytes of header, then data
// for NBD_CMD_WRITE). Writes to the socket are serialized; the reply is
// awaited with wait. It blocks while Options.MaxInFlight requests are
// under way.
func (d *Device) send(cmd uint16, off int64, n uint32, data, buf []byte) (*call, error) {
	var timeout <-chan time.Time
	if d.timeout > 0 {
		t := time.NewTimer(d.timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case d.slots <- struct{}{}:
	case <-timeout:
		return nil, d.timedOut(cmd, off, n)
	}
	c := &call{cmd: cmd, off: off, n: n, buf: buf, done: make(chan error, 1)}
	d.mu.Lock()
	if err := d.usable(); err != nil {
		d.mu.Unlock()
		<-d.slots
		return nil, err
	}
	d.handle++
	h := d.handle
	d.pending[h] = c
	d.inflight.Add(1)
	d.mu.Unlock()

	hdr := request(make([]byte, 0, 28), cmd, h, off, n)
	d.wmu.Lock()
	if d.timeout > 0 {
		d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	bufs := net.Buffers{hdr, data}
	_, err := bufs.WriteTo(d.conn)
	d.wmu.Unlock()
	if err != nil {
		d.fail(fmt.Errorf("%w: sending a %s request: %w", ErrDisconnected, cmdNames[cmd], err))
	}
	return c, nil
}

// request appends a request header ("Request message"): 32 bits
// NBD_REQUEST_MAGIC, 16 bits command flags (none), 16 bits type, 64 bits
// handle, 64 bits offset, 32 bits length.
func request(b []byte, cmd uint16, handle uint64, off int64, n uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, requestMagic)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, cmd)
	b = binary.BigEndian.AppendUint64(b, handle)
	b = binary.BigEndian.AppendUint64(b, uint64(off))
	return binary.BigEndian.AppendUint32(b, n)
}

// wait returns the outcome of c. After Options.Timeout it drops the
// connection (NBD cannot cancel a request) and fails every request.
func (d *Device) wait(c *call) error {
	if d.timeout <= 0 {
		return <-c.done
	}
	t := time.NewTimer(d.timeout)
	defer t.Stop()
	select {
	case err := <-c.done:
		return err
	case <-t.C:
		d.fail(d.timedOut(c.cmd, c.off, c.n))
		return <-c.done // the reader or fail completes it, and stops writing into c.buf
	}
}

func (d *Device) timedOut(cmd uint16, off int64, n uint32) error {
	return fmt.Errorf("nbd: %s of %d bytes at %d: no reply within %v: %w", cmdNames[cmd], n, off, d.timeout, os.ErrDeadlineExceeded)
}

// do sends one request and waits for its reply.
func (d *Device) do(cmd uint16, off int64, n uint32, data, buf []byte) error {
	c, err := d.send(cmd, off, n, data, buf)
	if err != nil {
		return err
	}
	return d.wait(c)
}

// complete ends a call and frees its slot.
func (d *Device) complete(c *call, err error) {
	c.done <- err
	<-d.slots
	d.inflight.Done()
}

// fail breaks the connection with err (the first error wins): it closes
// the socket, so the reader stops, and fails every request in flight.
// Later requests fail with the same error.
func (d *Device) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
	}
	err = d.err
	pending := d.pending
	d.pending = make(map[uint64]*call)
	d.mu.Unlock()
	d.conn.Close()
	for _, c := range pending {
		d.complete(c, err)
	}
}

// readLoop is the reader goroutine: it reads replies until the connection
// fails, and fails it then.
func (d *Device) readLoop() {
	defer close(d.readerDone)
	err := d.readReplies(bufio.NewReaderSize(d.conn, 64<<10))
	d.fail(err)
}

// readReplies reads simple replies from r ("Simple reply message": 32 bits
// NBD_SIMPLE_REPLY_MAGIC, 32 bits error, 64 bits handle, then a read's
// data when the error is zero) and completes their calls. It returns the
// error that ended it: the connection's, or a protocol error. A reply
// carries no length: the data read is the length the client asked for,
// into the caller's buffer, so nothing the server claims is allocated.
func (d *Device) readReplies(r io.Reader) error {
	var hdr [16]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return d.lost(err)
		}
		switch m := binary.BigEndian.Uint32(hdr[0:]); m {
		case simpleMagic:
		case structuredMagic:
			return fmt.Errorf("%w: a structured reply, which was not negotiated", ErrProtocol)
		default:
			return fmt.Errorf("%w: reply magic %#x", ErrProtocol, m)
		}
		code, h := binary.BigEndian.Uint32(hdr[4:]), be64(hdr[8:])
		d.mu.Lock()
		c := d.pending[h]
		delete(d.pending, h)
		d.mu.Unlock()
		if c == nil {
			return fmt.Errorf("%w: a reply for handle %#x, which has no request in flight", ErrProtocol, h)
		}
		if code != 0 {
			if code == errShutdown {
				// "If the client receives an ESHUTDOWN error it MUST
				// initiate a soft disconnect": no new requests; Close
				// sends NBD_CMD_DISC.
				d.mu.Lock()
				d.shutdown = true
				d.mu.Unlock()
			}
			d.complete(c, &Error{Op: cmdNames[c.cmd], Off: c.off, Len: c.n, Code: code, Errno: errnoOf(code)})
			continue
		}
		if c.cmd == cmdRead {
			if _, err := io.ReadFull(r, c.buf); err != nil {
				err = d.lost(err)
				d.complete(c, err)
				return err
			}
		}
		d.complete(c, nil)
	}
}

// lost wraps the error that ended the connection.
func (d *Device) lost(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", ErrDisconnected, err)
}
