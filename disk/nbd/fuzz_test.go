package nbd_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk/nbd"
)

// script is a server's side of a conversation: what the client reads.
type script struct {
	r io.Reader
}

func (s script) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s script) Write(p []byte) (int, error) { return len(p), nil }

// greeting returns a server's greeting with the given handshake flags.
func greeting(hflags uint16) []byte {
	return be.AppendUint16(be.AppendUint64(be.AppendUint64(nil, 0x4e42444d41474943), 0x49484156454f5054), hflags)
}

func optReply(opt, typ uint32, data []byte) []byte {
	r := be.AppendUint64(nil, 0x3e889045565a9)
	r = be.AppendUint32(be.AppendUint32(be.AppendUint32(r, opt), typ), uint32(len(data)))
	return append(r, data...)
}

// goReplies is a server's answer to NBD_OPT_GO: the export's size and
// flags, its block sizes, then NBD_REP_ACK.
func goReplies(size uint64, flags uint16) []byte {
	b := optReply(7, 3, be.AppendUint16(be.AppendUint64(be.AppendUint16(nil, 0), size), flags))
	b = append(b, optReply(7, 3, be.AppendUint32(be.AppendUint32(be.AppendUint32(be.AppendUint16(nil, 3), 512), 4096), 32<<20))...)
	return append(b, optReply(7, 1, nil)...)
}

// hugeReply is an NBD_REP_INFO header claiming 4 GiB of data.
var hugeReply = be.AppendUint32(optReply(7, 3, nil)[:16], 0xffffffff)

func TestNegotiateBounds(t *testing.T) {
	tests := []struct {
		name    string
		server  []byte
		wantErr string
	}{
		{"ok", append(greeting(3), goReplies(1<<30, 1)...), ""},
		{"huge option reply", append(greeting(3), hugeReply...), "bytes (limit"},
		{"not NBD", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "not an NBD server"},
		{"oldstyle", append(be.AppendUint64(be.AppendUint64(nil, 0x4e42444d41474943), 0x00420281861253), 0, 0), "oldstyle"},
		{"ack without export", append(greeting(3), optReply(7, 1, nil)...), "without NBD_INFO_EXPORT"},
		{"no HAS_FLAGS", append(greeting(3), goReplies(1<<30, 0)...), "NBD_FLAG_HAS_FLAGS"},
		{"bad block sizes", append(greeting(3), optReply(7, 3, be.AppendUint32(be.AppendUint32(be.AppendUint32(be.AppendUint16(nil, 3), 3), 4096), 1<<20))...), "NBD_INFO_BLOCK_SIZE"},
		{"truncated", greeting(3)[:10], "greeting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size, _, err := nbd.Negotiate(script{bytes.NewReader(tc.server)}, "disk")
			if tc.wantErr == "" {
				if err != nil || size != 1<<30 {
					t.Fatalf("Negotiate = %d, %v; want 1 GiB", size, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Negotiate: %v; want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// FuzzNegotiate feeds arbitrary server bytes to the client's handshake:
// an error or an export, never a panic, and never an allocation of what a
// length field claims (the fuzzer's memory limit would show it).
func FuzzNegotiate(f *testing.F) {
	f.Add(append(greeting(3), goReplies(1<<30, 1|2|4)...))
	f.Add(append(greeting(3), optReply(7, 1<<31+1, nil)...))                                                    // no GO: EXPORT_NAME follows
	f.Add(append(append(greeting(3), optReply(7, 1<<31+1, nil)...), make([]byte, 10)...))                       // … and its answer
	f.Add(append(append(greeting(0), be.AppendUint16(be.AppendUint64(nil, 4096), 1)...), make([]byte, 124)...)) // not fixed
	f.Add(append(greeting(3), optReply(7, 1<<31+6, []byte("no such export\x00\xff"))...))
	f.Fuzz(func(t *testing.T, server []byte) {
		size, flags, err := nbd.Negotiate(script{bytes.NewReader(server)}, "disk")
		if err == nil && (size < 0 || flags&1 == 0) {
			t.Fatalf("Negotiate accepted size %d, flags %#x", size, flags)
		}
	})
}

// FuzzNBDReply feeds arbitrary bytes to the reply reader with three reads
// in flight (handles 1, 2, 3 of 512, 4096 and 0 bytes): it stops with an
// error, never panics, never writes outside a read's buffer.
func FuzzNBDReply(f *testing.F) {
	ok := func(h uint64, n int) []byte { return append(simpleReply(0, h), bytes.Repeat([]byte{0xab}, n)...) }
	f.Add(append(append(ok(2, 4096), ok(1, 512)...), ok(3, 0)...))
	f.Add(append(simpleReply(5, 1), ok(2, 100)...))                                 // EIO, then a short body
	f.Add(simpleReply(0, 99))                                                       // unknown handle
	f.Add(be.AppendUint64(be.AppendUint32(be.AppendUint32(nil, 0x668e33ef), 1), 1)) // structured
	f.Fuzz(func(t *testing.T, replies []byte) {
		outcomes, err := nbd.ReadReplies(bytes.NewReader(replies), []uint32{512, 4096, 0})
		if err == nil {
			t.Fatal("the reply reader stopped without an error")
		}
		if len(outcomes) != 3 {
			t.Fatalf("%d outcomes for 3 reads", len(outcomes))
		}
		if !errors.Is(err, nbd.ErrProtocol) && !errors.Is(err, nbd.ErrDisconnected) {
			t.Fatalf("reader stopped with %v; want ErrProtocol or ErrDisconnected", err)
		}
	})
}
