package nbd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

var (
	// ErrReadOnly is wrapped by the error of a write, trim or
	// write-zeroes on a read-only device: the server set
	// NBD_FLAG_READ_ONLY, or Options.ReadOnly was set. (Package disk's
	// ErrReadOnly is a different value; disk maps this one onto it.)
	ErrReadOnly = errors.New("nbd: read-only export")

	// ErrClosed is wrapped by the error of every call after Close.
	ErrClosed = errors.New("nbd: device closed")

	// ErrDisconnected is wrapped by the error of every request in flight
	// when the connection dropped (the server died, a request timed out,
	// the server broke the protocol) and of every later request. A device
	// does not reconnect.
	ErrDisconnected = errors.New("nbd: connection lost")
)

// Options configures Dial. The zero value works.
type Options struct {
	// Dialer opens the connection; nil means a net.Dialer. network is
	// "tcp" or "unix".
	Dialer func(ctx context.Context, network, address string) (net.Conn, error)

	// ReadOnly refuses writes even when the export allows them.
	ReadOnly bool

	// Timeout bounds each request, from queueing it to its reply. A
	// request that times out drops the connection, since NBD cannot
	// cancel a request: it and every other request in flight fail with
	// errors wrapping ErrDisconnected and os.ErrDeadlineExceeded. 0 means
	// 60 s; negative means no bound.
	Timeout time.Duration

	// MaxInFlight bounds the requests in flight on the connection. 0
	// means 16.
	MaxInFlight int
}

// A Device is an NBD export opened by Dial. Its methods are safe for
// concurrent use: requests from many goroutines are in flight at once on
// its one connection.
type Device struct {
	conn       net.Conn
	exp        export
	readOnly   bool
	timeout    time.Duration
	slots      chan struct{} // one token per request in flight
	readerDone chan struct{}
	inflight   sync.WaitGroup // requests sent and not yet complete

	wmu sync.Mutex // serializes writes to conn

	mu       sync.Mutex
	pending  map[uint64]*call // by handle
	handle   uint64
	err      error // the connection's failure; sticky
	closed   bool
	shutdown bool // the server replied ESHUTDOWN
}

const defaultPort = "10809"

// Dial connects to the NBD export named by rawURL, in the NBD URI syntax
// (doc/uri.md of the NBD project): nbd://host[:port]/export (port 10809 by
// default, export "" when the path is empty) or
// nbd+unix:///export?socket=PATH. TLS (nbds://) is not supported. ctx
// bounds the connection and the handshake.
func Dial(ctx context.Context, rawURL string, opts Options) (*Device, error) {
	network, address, name, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	dial := opts.Dialer
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("nbd: %w", err)
	}
	// The handshake obeys ctx: its deadline, and its cancellation, which
	// closes the connection.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	exp, err := negotiate(conn, name)
	if !stop() {
		err = errors.Join(err, fmt.Errorf("nbd: handshake: %w", ctx.Err()))
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	d := &Device{
		conn:       conn,
		exp:        exp,
		readOnly:   opts.ReadOnly || exp.flags&flagReadOnly != 0,
		timeout:    opts.Timeout,
		slots:      make(chan struct{}, max(1, cmp0(opts.MaxInFlight, 16))),
		readerDone: make(chan struct{}),
		pending:    make(map[uint64]*call),
	}
	if d.timeout == 0 {
		d.timeout = 60 * time.Second
	}
	go d.readLoop()
	return d, nil
}

func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// parseURL splits an NBD URI into network, address and export name.
func parseURL(rawURL string) (network, address, name string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", "", fmt.Errorf("nbd: %w", err)
	}
	name = strings.TrimPrefix(u.Path, "/")
	switch u.Scheme {
	case "nbd":
		if u.Host == "" {
			return "", "", "", fmt.Errorf("nbd: URL %q has no host", rawURL)
		}
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = defaultPort
		}
		return "tcp", net.JoinHostPort(host, port), name, nil
	case "nbd+unix":
		sock := u.Query().Get("socket")
		if sock == "" {
			return "", "", "", fmt.Errorf("nbd: URL %q: nbd+unix needs ?socket=PATH", rawURL)
		}
		if u.Host != "" {
			return "", "", "", fmt.Errorf("nbd: URL %q: nbd+unix takes no host", rawURL)
		}
		return "unix", sock, name, nil
	case "nbds", "nbds+unix":
		return "", "", "", fmt.Errorf("nbd: URL %q: TLS is not supported", rawURL)
	}
	return "", "", "", fmt.Errorf("nbd: URL %q: scheme %q, want nbd or nbd+unix", rawURL, u.Scheme)
}

// Size returns the export's size in bytes.
func (d *Device) Size() int64 { return d.exp.size }

// ReadOnly reports whether writes are refused.
func (d *Device) ReadOnly() bool { return d.readOnly }

// usable returns why no request can be sent, or nil. d.mu is held.
func (d *Device) usable() error {
	switch {
	case d.closed:
		return ErrClosed
	case d.err != nil:
		return d.err
	case d.shutdown:
		return fmt.Errorf("%w: the server is shutting down (ESHUTDOWN)", ErrDisconnected)
	}
	return nil
}

// ReadAt reads len(p) bytes at off with NBD_CMD_READ, as io.ReaderAt:
// io.EOF when the range passes the end of the export. A read longer than
// the server's maximum block size is split into requests sent together.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("nbd: read at %d: negative offset", off)
	}
	if off >= d.exp.size {
		return 0, io.EOF
	}
	var eof error
	if rest := d.exp.size - off; int64(len(p)) > rest {
		p, eof = p[:rest], io.EOF
	}
	if err := d.aligned("read", off, int64(len(p))); err != nil {
		return 0, err
	}
	if err := d.split(cmdRead, off, p, p); err != nil {
		return 0, err
	}
	return len(p), eof
}

// WriteAt writes p at off with NBD_CMD_WRITE. Writing past the end of the
// export is an error.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	if err := d.writable("write", off, int64(len(p))); err != nil {
		return 0, err
	}
	if err := d.split(cmdWrite, off, p, nil); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush sends NBD_CMD_FLUSH when the server offers it
// (NBD_FLAG_SEND_FLUSH); otherwise there is nothing to flush and it
// returns nil.
func (d *Device) Flush() error {
	if d.exp.flags&flagSendFlush == 0 {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.usable()
	}
	return d.do(cmdFlush, 0, 0, nil, nil)
}

// Discard sends NBD_CMD_TRIM for [off, off+n) when the server offers it
// (NBD_FLAG_SEND_TRIM); otherwise it does nothing, which a discard may do.
func (d *Device) Discard(off, n int64) error {
	if err := d.writable("trim", off, n); err != nil {
		return err
	}
	if d.exp.flags&flagSendTrim == 0 {
		return nil
	}
	return d.ranges(cmdTrim, off, n)
}

// WriteZeroes makes [off, off+n) read as zeroes: NBD_CMD_WRITE_ZEROES when
// the server offers it (NBD_FLAG_SEND_WRITE_ZEROES), else writes of zeroes.
func (d *Device) WriteZeroes(off, n int64) error {
	if err := d.writable("write-zeroes", off, n); err != nil {
		return err
	}
	if d.exp.flags&flagSendWriteZeroes != 0 {
		return d.ranges(cmdWriteZeroes, off, n)
	}
	zero := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(zero)))
		if err := d.split(cmdWrite, off, zero[:k], nil); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// writable checks a write-like request.
func (d *Device) writable(op string, off, n int64) error {
	if d.readOnly {
		return fmt.Errorf("nbd: %s of %d bytes at %d: %w", op, n, off, ErrReadOnly)
	}
	if off < 0 || n < 0 || off > d.exp.size || n > d.exp.size-off {
		return fmt.Errorf("nbd: %s of %d bytes at %d: outside the export (%d bytes)", op, n, off, d.exp.size)
	}
	return d.aligned(op, off, n)
}

// aligned checks the server's minimum block size (NBD_INFO_BLOCK_SIZE):
// requests must be multiples of it.
func (d *Device) aligned(op string, off, n int64) error {
	if m := int64(d.exp.minBlock); off%m != 0 || n%m != 0 {
		return fmt.Errorf("nbd: %s of %d bytes at %d: not aligned to the export's %d-byte blocks", op, n, off, m)
	}
	return nil
}

// requestSize bounds the length of one read or write request. Servers
// allocate a buffer per request: with qemu-nbd 7.2 and nbdkit 1.32 on this
// project's machine, 64 MiB moved in 32 MiB requests took 10 to 40 times
// as long as in 1 MiB requests (kept in flight together).
const requestSize = 1 << 20

// split sends a read (into buf) or a write (of data) of p's length at off
// as requests of at most requestSize (and the server's maximum), all in
// flight together, and waits for them all.
func (d *Device) split(cmd uint16, off int64, p, buf []byte) error {
	var calls []*call
	var err error
	limit := int(max(d.exp.minBlock, min(d.exp.maxPayload, requestSize)))
	for done := 0; done < len(p); {
		k := min(len(p)-done, limit)
		var c *call
		if cmd == cmdRead {
			c, err = d.send(cmd, off+int64(done), uint32(k), nil, buf[done:done+k])
		} else {
			c, err = d.send(cmd, off+int64(done), uint32(k), p[done:done+k], nil)
		}
		if err != nil {
			break
		}
		calls = append(calls, c)
		done += k
	}
	for _, c := range calls {
		err = errors.Join(err, d.wait(c))
	}
	return err
}

// ranges sends a command without data (trim, write-zeroes) over
// [off, off+n) in requests whose 32-bit length fits.
func (d *Device) ranges(cmd uint16, off, n int64) error {
	step := int64(1<<31) / int64(d.exp.minBlock) * int64(d.exp.minBlock)
	var calls []*call
	var err error
	for n > 0 {
		k := min(n, step)
		c, e := d.send(cmd, off, uint32(k), nil, nil)
		if e != nil {
			err = e
			break
		}
		calls = append(calls, c)
		off, n = off+k, n-k
	}
	for _, c := range calls {
		err = errors.Join(err, d.wait(c))
	}
	return err
}

// Close waits for the requests in flight (each bounded by
// Options.Timeout), sends NBD_CMD_DISC ("soft disconnect") if the
// connection is still up, closes it and waits for the reader goroutine.
// Calls made after Close fail with ErrClosed, as does a second Close.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.closed = true
	d.mu.Unlock()
	d.inflight.Wait()
	d.mu.Lock()
	up := d.err == nil
	d.mu.Unlock()
	var err error
	if up {
		// C: NBD_CMD_DISC: a request with no reply.
		hdr := request(make([]byte, 0, 28), cmdDisc, 0, 0, 0)
		d.wmu.Lock()
		d.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err = d.conn.Write(hdr)
		d.wmu.Unlock()
		if err != nil {
			err = fmt.Errorf("nbd: sending NBD_CMD_DISC: %w", err)
		}
	}
	d.fail(ErrClosed)
	<-d.readerDone
	return err
}
