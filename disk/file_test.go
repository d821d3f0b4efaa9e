package disk_test

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk"
)

func TestFile(t *testing.T) {
	_, want, path := baseImage(t, 4<<20)
	f, err := disk.OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.ReadOnly() || f.File() == nil {
		t.Fatalf("ReadOnly() = %v, File() = %v", f.ReadOnly(), f.File())
	}
	checkDevice(t, f, want)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, disk.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := f.ReadAt(make([]byte, 512), 0); !errors.Is(err, disk.ErrClosed) {
		t.Errorf("ReadAt after Close = %v, want ErrClosed", err)
	}
	if err := f.Flush(); !errors.Is(err, disk.ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(want) {
		t.Fatalf("file after Close differs from the model (%v)", err)
	}

	// Read-only: every write is refused and the file does not change.
	ro, err := disk.OpenFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !disk.IsReadOnly(ro) {
		t.Error("read-only file: IsReadOnly false")
	}
	for name, err := range map[string]error{
		"WriteAt":     second(ro.WriteAt(make([]byte, 512), 0)),
		"WritevAt":    second(ro.WritevAt([][]byte{make([]byte, 512)}, 0)),
		"Discard":     ro.Discard(0, 512),
		"WriteZeroes": ro.WriteZeroes(0, 512),
	} {
		if !errors.Is(err, disk.ErrReadOnly) {
			t.Errorf("read-only %s = %v, want ErrReadOnly", name, err)
		}
	}
	if got, _ := os.ReadFile(path); string(got) != string(want) {
		t.Error("read-only device changed the file")
	}
}

func TestFileDiscard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.img")
	data := make([]byte, 1<<20)
	rand.Read(data)
	os.WriteFile(path, data, 0o644)
	f, err := disk.OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Discard(64<<10, 128<<10); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 128<<10)
	f.ReadAt(got, 64<<10)
	// A hole reads as zero; a file system without holes keeps the data.
	if string(got) != string(make([]byte, len(got))) && string(got) != string(data[64<<10:192<<10]) {
		t.Error("discarded range reads as neither zeroes nor the old data")
	}
}

func TestOpenFileRefuses(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.img")
	os.WriteFile(small, make([]byte, 100), 0o644)
	fds := openFDs(t)
	defer func() {
		if n := openFDs(t); n > fds {
			t.Errorf("%d descriptors open before the refused opens, %d after", fds, n)
		}
	}()
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"directory", dir, "not a regular file or block device"},
		{"char device", "/dev/null", "not a regular file or block device"},
		{"too small", small, "100 bytes is too small for a disk image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := disk.OpenFile(tc.path, true)
			if err == nil {
				f.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file and say %q", err, tc.want)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
