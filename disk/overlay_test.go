package disk_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk"
)

// baseImage writes size random bytes to a file and opens it read-only.
func baseImage(t *testing.T, size int) (*disk.File, []byte, string) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "base.img")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := disk.OpenFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data, path
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestOverlay(t *testing.T) {
	const size = 4<<20 + 1536 // a short last block
	for _, kind := range []string{"memory", "sidecar"} {
		t.Run(kind, func(t *testing.T) {
			base, data, path := baseImage(t, size)
			before := fileHash(t, path)
			var ov *disk.Overlay
			sidecar := filepath.Join(t.TempDir(), "cow")
			if kind == "memory" {
				ov = disk.NewOverlay(base)
			} else {
				var err error
				if ov, err = disk.OpenOverlay(base, sidecar); err != nil {
					t.Fatal(err)
				}
			}
			want := bytes.Clone(data)
			checkDevice(t, ov, want)
			if fileHash(t, path) != before {
				t.Fatal("the base changed under the overlay")
			}

			// Extents cover exactly the bytes that differ from the base.
			ext := ov.Extents()
			covered := make([]bool, size)
			for i, e := range ext {
				if e.Off%4096 != 0 || e.Len <= 0 || e.Off+e.Len > size || (i > 0 && ext[i-1].Off+ext[i-1].Len >= e.Off) {
					t.Fatalf("extent %d %+v: not block-aligned, empty, past the end, or not sorted and merged", i, e)
				}
				for j := e.Off; j < e.Off+e.Len; j++ {
					covered[j] = true
				}
			}
			for i := range want {
				if want[i] != data[i] && !covered[i] {
					t.Fatalf("byte %d changed but no extent covers it", i)
				}
			}

			// Export writes what the overlay shows.
			var buf bytes.Buffer
			if err := ov.Export(&buf); err != nil || !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("Export: %v; equal: %v", err, bytes.Equal(buf.Bytes(), want))
			}
			exported := filepath.Join(t.TempDir(), "export.img")
			if err := ov.ExportFile(exported); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(exported); !bytes.Equal(got, want) {
				t.Fatal("ExportFile differs from the overlay")
			}
			// Commit refuses a read-only base.
			if err := ov.Commit(); !errors.Is(err, disk.ErrReadOnly) {
				t.Fatalf("Commit on a read-only base = %v, want ErrReadOnly", err)
			}
			if kind == "sidecar" { // the changes outlive the overlay
				if err := ov.Close(); err != nil {
					t.Fatal(err)
				}
				if ov, err := disk.OpenOverlay(base, sidecar); err != nil {
					t.Fatal(err)
				} else {
					defer ov.Close()
					got := make([]byte, size)
					if _, err := ov.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
						t.Fatalf("reopened sidecar: %v; equal: %v", err, bytes.Equal(got, want))
					}
					if !slices.Equal(ov.Extents(), ext) {
						t.Fatal("reopened sidecar has other extents")
					}
				}
			}
			if fileHash(t, path) != before {
				t.Fatal("the base changed under the overlay")
			}
		})
	}
}

func TestOverlayCommit(t *testing.T) {
	_, data, path := baseImage(t, 1<<20)
	base, err := disk.OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	sidecar := filepath.Join(t.TempDir(), "cow")
	ov, err := disk.OpenOverlay(base, sidecar)
	if err != nil {
		t.Fatal(err)
	}
	defer ov.Close()
	want := bytes.Clone(data)
	for _, w := range []struct {
		off int64
		s   string
	}{{0, "first"}, {4095, "across a block edge"}, {1<<20 - 3, "end"}} {
		ov.WriteAt([]byte(w.s), w.off)
		copy(want[w.off:], w.s)
	}
	if err := ov.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Fatal("base after Commit differs from the overlay")
	}
	if len(ov.Extents()) != 0 {
		t.Fatalf("Extents after Commit = %v, want none", ov.Extents())
	}
	if fi, _ := os.Stat(sidecar); fi.Size() != 4096 {
		t.Fatalf("sidecar after Commit is %d bytes, want the 4096-byte header", fi.Size())
	}
}

func TestOverlayBadSidecar(t *testing.T) {
	base, _, _ := baseImage(t, 64<<10)
	good := filepath.Join(t.TempDir(), "good")
	ov, err := disk.OpenOverlay(base, good)
	if err != nil {
		t.Fatal(err)
	}
	ov.WriteAt([]byte("x"), 0)
	ov.WriteAt([]byte("y"), 8192)
	if err := ov.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ov.ReadAt(make([]byte, 512), 0); !errors.Is(err, disk.ErrClosed) {
		t.Errorf("ReadAt after Close = %v, want ErrClosed", err)
	}
	if err := ov.Close(); !errors.Is(err, disk.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	valid, _ := os.ReadFile(good)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	for _, tc := range []struct {
		name, field string
		file        []byte
	}{
		{"short header", "header", valid[:100]},
		{"magic", "magic", edit(func(b []byte) []byte { b[0] = 'X'; return b })},
		{"base size", "base size", edit(func(b []byte) []byte { binary.BigEndian.PutUint64(b[8:], 1<<30); return b })},
		{"block size", "block size", edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[16:], 512); return b })},
		{"torn record", "record 1", valid[:len(valid)-10]},
		{"record magic", "record 1", edit(func(b []byte) []byte { b[4096+4112] = 0; return b })},
		{"block past the base", "record 0", edit(func(b []byte) []byte { binary.BigEndian.PutUint64(b[4096+8:], 16); return b })},
		{"duplicate block", "record 1", edit(func(b []byte) []byte { binary.BigEndian.PutUint64(b[4096+4112+8:], 0); return b })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cow")
			os.WriteFile(p, tc.file, 0o644)
			ov, err := disk.OpenOverlay(base, p)
			if err == nil {
				ov.Close()
				t.Fatal("opened")
			}
			var se *disk.SidecarError
			if !errors.As(err, &se) || se.Field != tc.field || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v: want a SidecarError naming %s and the file", err, tc.field)
			}
			if got, _ := os.ReadFile(p); !bytes.Equal(got, tc.file) {
				t.Fatal("a refused sidecar was changed")
			}
		})
	}
}
