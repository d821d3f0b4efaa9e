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
