package disk_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk"
)

func TestSlice(t *testing.T) {
	m := disk.NewMemory(1 << 20)
	s := disk.Slice(m, 4096, 8192)
	if s.Size() != 8192 {
		t.Fatalf("size %d", s.Size())
	}
	if _, err := s.WriteAt([]byte("hello"), 8187); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	m.ReadAt(got, 4096+8187)
	if string(got) != "hello" {
		t.Errorf("the write landed elsewhere: %q", got)
	}
	if n, err := s.WriteAt([]byte("toolong"), 8190); n != 2 || err == nil {
		t.Errorf("write past the end: %d, %v; want 2 bytes and an error", n, err)
	}
	if n, err := s.ReadAt(make([]byte, 10), 8190); n != 2 || err != io.EOF {
		t.Errorf("read past the end: %d, %v; want 2, io.EOF", n, err)
	}
	if _, err := s.ReadAt(got, 9000); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("read outside: %v", err)
	}
	if err := s.(disk.ZeroWriter).WriteZeroes(8187, 5); err != nil {
		t.Fatal(err)
	}
	m.ReadAt(got, 4096+8187)
	if !bytes.Equal(got, make([]byte, 5)) {
		t.Errorf("WriteZeroes left %q", got)
	}
	if err := s.(disk.ZeroWriter).WriteZeroes(8190, 5); err == nil {
		t.Error("WriteZeroes past the end: no error")
	}
	if err := s.(disk.Discarder).Discard(0, 4096); err != nil {
		t.Error(err)
	}

	// Clipped to the device below.
	if c := disk.Slice(m, 1<<20-100, 4096); c.Size() != 100 {
		t.Errorf("slice past the end: %d bytes, want 100", c.Size())
	}
	if c := disk.Slice(m, 2<<20, 4096); c.Size() != 0 {
		t.Errorf("slice beyond the end: %d bytes, want 0", c.Size())
	}

	// Read-only passes through.
	ro := disk.Slice(disk.ReaderAt(bytes.NewReader(make([]byte, 4096)), 4096), 512, 512)
	if !disk.IsReadOnly(ro) {
		t.Error("slice of a read-only device is writable")
	}
	if _, err := ro.WriteAt([]byte{1}, 0); !errors.Is(err, disk.ErrReadOnly) {
		t.Errorf("write: %v, want ErrReadOnly", err)
	}
}

// TestConcatStripe checks Concat and Stripe against the definition: bytes
// written through them land where the layout says, and read back.
func TestConcatStripe(t *testing.T) {
	a, b, c := disk.NewMemory(64<<10), disk.NewMemory(64<<10), disk.NewMemory(32<<10)
	cat := disk.Concat(a, b, c)
	if cat.Size() != 160<<10 {
		t.Fatalf("concat size %d", cat.Size())
	}
	msg := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	if _, err := cat.WriteAt(msg, 20<<10); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	b.ReadAt(got, 0) // concat offset 64 KiB = msg offset 44 KiB
	if string(got) != string(msg[44<<10:44<<10+4]) {
		t.Errorf("b starts with %q", got)
	}
	back := make([]byte, len(msg))
	if _, err := cat.ReadAt(back, 20<<10); err != nil || !bytes.Equal(back, msg) {
		t.Errorf("concat read back: %v", err)
	}

	x, y := disk.NewMemory(64<<10), disk.NewMemory(64<<10)
	st, err := disk.Stripe(4096, x, y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.WriteAt(msg, 0); err != nil {
		t.Fatal(err)
	}
	for k := range 32 { // chunk k is on x if even, y if odd, at (k/2)*4096
		dev := []*disk.Memory{x, y}[k%2]
		dev.ReadAt(got, int64(k/2)*4096+7)
		if string(got) != string(msg[k*4096+7:k*4096+11]) {
			t.Fatalf("chunk %d: %q", k, got)
		}
	}
	if _, err := st.ReadAt(back, 0); err != nil || !bytes.Equal(back, msg) {
		t.Errorf("stripe read back: %v", err)
	}
	if _, err := disk.Stripe(4096, x, disk.NewMemory(8192)); err == nil {
		t.Error("stripe of unequal devices: no error")
	}
	if _, err := disk.Stripe(3000, x, y); err == nil {
		t.Error("stripe with a chunk not dividing the devices: no error")
	}
}
