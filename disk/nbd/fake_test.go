package nbd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gokernel/gokernel/disk/nbd"
)

// fake is a small in-process NBD server over net.Pipe, for the cases
// qemu-nbd and nbdkit cannot be made to show: old negotiation styles,
// error replies, bad handles, silence.
type fake struct {
	fixed  bool   // set NBD_FLAG_FIXED_NEWSTYLE (and NBD_FLAG_NO_ZEROES)
	noGo   bool   // answer NBD_OPT_GO with NBD_REP_ERR_UNSUP
	flags  uint16 // transmission flags (NBD_FLAG_HAS_FLAGS is added)
	data   []byte
	onRead func(h uint64, off int64, n uint32) (reply []byte, handled bool) // replaces a read's reply

	mu   sync.Mutex
	opts []uint32 // options received
	cmds []uint16 // commands received
	wg   sync.WaitGroup
}

var be = binary.BigEndian

func (f *fake) dial(t *testing.T, opts nbd.Options) (*nbd.Device, error) {
	client, srv := net.Pipe()
	f.wg.Go(func() { f.serve(srv) })
	t.Cleanup(func() { client.Close(); f.wg.Wait() })
	opts.Dialer = func(context.Context, string, string) (net.Conn, error) { return client, nil }
	return nbd.Dial(context.Background(), "nbd://fake/disk", opts)
}

func (f *fake) commands() []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint16(nil), f.cmds...)
}

func (f *fake) serve(c net.Conn) {
	defer c.Close()
	var hflags uint16
	if f.fixed {
		hflags = 3
	}
	greet := be.AppendUint64(be.AppendUint64(nil, 0x4e42444d41474943), 0x49484156454f5054)
	if _, err := c.Write(be.AppendUint16(greet, hflags)); err != nil {
		return
	}
	var b [28]byte
	if _, err := io.ReadFull(c, b[:4]); err != nil {
		return
	}
	noZeroes := be.Uint32(b[:4])&2 != 0
	flags := f.flags | 1
	size := uint64(len(f.data))
	reply := func(opt, typ uint32, data []byte) error {
		r := be.AppendUint64(nil, 0x3e889045565a9)
		r = be.AppendUint32(be.AppendUint32(be.AppendUint32(r, opt), typ), uint32(len(data)))
		_, err := c.Write(append(r, data...))
		return err
	}
options:
	for {
		if _, err := io.ReadFull(c, b[:16]); err != nil {
			return
		}
		opt, n := be.Uint32(b[8:]), be.Uint32(b[12:])
		f.mu.Lock()
		f.opts = append(f.opts, opt)
		f.mu.Unlock()
		data := make([]byte, n)
		if _, err := io.ReadFull(c, data); err != nil {
			return
		}
		switch {
		case opt == 7 && f.noGo:
			reply(opt, 1<<31+1, nil)
		case opt == 7:
			if name := string(data[4 : 4+be.Uint32(data)]); name != "disk" {
				reply(opt, 1<<31+6, []byte("no export "+name))
				continue
			}
			reply(opt, 3, be.AppendUint16(be.AppendUint64(be.AppendUint16(nil, 0), size), flags))
			reply(opt, 1, nil)
			break options
		case opt == 1:
			r := be.AppendUint16(be.AppendUint64(nil, size), flags)
			if !noZeroes {
				r = append(r, make([]byte, 124)...)
			}
			c.Write(r)
			break options
		default:
			reply(opt, 1<<31+1, nil)
		}
	}
	for {
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return
		}
		cmd, h, off, n := be.Uint16(b[6:]), be.Uint64(b[8:]), int64(be.Uint64(b[16:])), be.Uint32(b[24:])
		f.mu.Lock()
		f.cmds = append(f.cmds, cmd)
		f.mu.Unlock()
		ok := be.AppendUint64(be.AppendUint32(be.AppendUint32(nil, 0x67446698), 0), h)
		switch cmd {
		case 0: // NBD_CMD_READ
			if f.onRead != nil {
				if r, handled := f.onRead(h, off, n); handled {
					if r != nil {
						c.Write(r)
					}
					continue
				}
			}
			c.Write(append(ok, f.data[off:off+int64(n)]...))
		case 1: // NBD_CMD_WRITE
			if _, err := io.ReadFull(c, f.data[off:off+int64(n)]); err != nil {
				return
			}
			c.Write(ok)
		case 2: // NBD_CMD_DISC
			return
		default:
			c.Write(ok)
		}
	}
}

func simpleReply(code uint32, h uint64) []byte {
	return be.AppendUint64(be.AppendUint32(be.AppendUint32(nil, 0x67446698), code), h)
}

func TestFakeNegotiation(t *testing.T) {
	tests := []struct {
		name     string
		fixed    bool
		noGo     bool
		wantOpts []uint32
	}{
		{"NBD_OPT_GO", true, false, []uint32{7}},
		{"no NBD_OPT_GO: NBD_OPT_EXPORT_NAME", true, true, []uint32{7, 1}},
		{"not fixed newstyle: NBD_OPT_EXPORT_NAME with zeroes", false, false, []uint32{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := randomData(1 << 20)
			f := &fake{fixed: tc.fixed, noGo: tc.noGo, data: bytes.Clone(data)}
			d, err := f.dial(t, nbd.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			f.mu.Lock()
			opts := f.opts
			f.mu.Unlock()
			if !slices.Equal(opts, tc.wantOpts) {
				t.Errorf("options sent = %v, want %v", opts, tc.wantOpts)
			}
			if d.Size() != int64(len(data)) {
				t.Fatalf("Size = %d, want %d", d.Size(), len(data))
			}
			p := make([]byte, 3<<20/2) // more than one 1 MiB request
			n, err := d.ReadAt(p, 0)
			if n != len(data) || err != io.EOF || !bytes.Equal(p[:n], data) {
				t.Fatalf("ReadAt = %d, %v; want the whole export and EOF", n, err)
			}
		})
	}
}

func TestFakeErrors(t *testing.T) {
	t.Run("EIO reply", func(t *testing.T) {
		f := &fake{fixed: true, data: make([]byte, 1<<20), onRead: func(h uint64, off int64, n uint32) ([]byte, bool) {
			return simpleReply(5, h), off == 4096 // NBD_EIO for block 1 only
		}}
		d, err := f.dial(t, nbd.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		_, err = d.ReadAt(make([]byte, 512), 4096)
		var ne *nbd.Error
		if !errors.Is(err, syscall.EIO) || !errors.As(err, &ne) || ne.Op != "read" || ne.Off != 4096 {
			t.Fatalf("ReadAt of a block the server fails: %v; want an *nbd.Error matching EIO", err)
		}
		if _, err := d.ReadAt(make([]byte, 512), 0); err != nil {
			t.Fatalf("ReadAt after an error reply: %v; the connection should survive it", err)
		}
	})
	t.Run("unknown handle", func(t *testing.T) {
		f := &fake{fixed: true, data: make([]byte, 1<<20), onRead: func(h uint64, off int64, n uint32) ([]byte, bool) {
			return append(simpleReply(0, h+1000), make([]byte, n)...), true
		}}
		d, err := f.dial(t, nbd.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrProtocol) {
			t.Fatalf("ReadAt answered for another handle: %v; want ErrProtocol", err)
		}
		if _, err := d.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrProtocol) {
			t.Fatalf("ReadAt after a protocol error: %v; want it again", err)
		}
	})
	t.Run("structured reply", func(t *testing.T) {
		f := &fake{fixed: true, data: make([]byte, 1<<20), onRead: func(h uint64, off int64, n uint32) ([]byte, bool) {
			return be.AppendUint64(be.AppendUint32(be.AppendUint32(nil, 0x668e33ef), 1<<16), h), true
		}}
		d, err := f.dial(t, nbd.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrProtocol) {
			t.Fatalf("ReadAt answered by a structured reply: %v; want ErrProtocol", err)
		}
	})
	t.Run("silent server", func(t *testing.T) {
		f := &fake{fixed: true, data: make([]byte, 1<<20), onRead: func(uint64, int64, uint32) ([]byte, bool) {
			return nil, true // never answer
		}}
		d, err := f.dial(t, nbd.Options{Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.ReadAt(make([]byte, 512), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadAt from a silent server: %v; want a deadline error", err)
		}
		if _, err := d.ReadAt(make([]byte, 512), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadAt after a timeout: %v; want the connection's error", err)
		}
	})
	t.Run("unknown export", func(t *testing.T) {
		f := &fake{fixed: true, data: make([]byte, 512)}
		client, srv := net.Pipe()
		f.wg.Go(func() { f.serve(srv) })
		defer f.wg.Wait()
		_, err := nbd.Dial(context.Background(), "nbd://fake/other", nbd.Options{
			Dialer: func(context.Context, string, string) (net.Conn, error) { return client, nil }})
		var oe *nbd.OptionError
		if !errors.As(err, &oe) || oe.Reply != "NBD_REP_ERR_UNKNOWN" || oe.Message != "no export other" {
			t.Fatalf("Dial of an unknown export: %v; want an OptionError with the server's message", err)
		}
	})
}

// TestFakeFlags: without NBD_FLAG_SEND_TRIM Discard sends nothing; without
// NBD_FLAG_SEND_WRITE_ZEROES WriteZeroes writes zeroes; without
// NBD_FLAG_SEND_FLUSH Flush sends nothing; with them, the commands go out;
// Close sends NBD_CMD_DISC.
func TestFakeFlags(t *testing.T) {
	data := randomData(1 << 20)
	f := &fake{fixed: true, data: bytes.Clone(data)}
	d, err := f.dial(t, nbd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(d.Discard(0, 4096), d.Flush(), d.WriteZeroes(8192, 4096)); err != nil {
		t.Fatal(err)
	}
	if got := f.commands(); !slices.Equal(got, []uint16{1}) {
		t.Errorf("commands without flags = %v, want one NBD_CMD_WRITE (of zeroes)", got)
	}
	if !bytes.Equal(f.data[8192:12288], make([]byte, 4096)) || !bytes.Equal(f.data[:4096], data[:4096]) {
		t.Error("WriteZeroes without NBD_FLAG_SEND_WRITE_ZEROES did not write zeroes, or Discard changed data")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	f.wg.Wait()
	if got := f.commands(); got[len(got)-1] != 2 {
		t.Errorf("last command = %d, want NBD_CMD_DISC (2)", got[len(got)-1])
	}

	g := &fake{fixed: true, flags: 1<<2 | 1<<5 | 1<<6, data: make([]byte, 1<<20)}
	d, err = g.dial(t, nbd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := errors.Join(d.Discard(0, 4096), d.Flush(), d.WriteZeroes(8192, 4096)); err != nil {
		t.Fatal(err)
	}
	if got := g.commands(); !slices.Equal(got, []uint16{4, 3, 6}) {
		t.Errorf("commands with SEND_TRIM|SEND_FLUSH|SEND_WRITE_ZEROES = %v, want [4 3 6]", got)
	}
}
