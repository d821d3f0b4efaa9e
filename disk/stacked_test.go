package disk_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokernel/gokernel/disk"
)

// wrapper is a device of a user's own over another: it forwards only the
// methods of disk.Device (Go promotes no others through the embedded
// interface) and says what it stands on.
type wrapper struct{ disk.Device }

func (w wrapper) Under() []disk.Device { return []disk.Device{w.Device} }

// hidden is a wrapper that does not say what it stands on.
type hidden struct{ disk.Device }

// IsReadOnly and IsLocal answer for a device by its own method, else look
// through a Stacked device to the devices under it: read-only if any of
// them is, local if all of them are (and there is one).
func TestStacked(t *testing.T) {
	mem := func() disk.Device { return disk.NewMemory(1 << 20) }
	ro := func() disk.Device { return disk.ReaderAt(bytes.NewReader(make([]byte, 1<<20)), 1<<20) }
	roLocal := func() disk.Device { return wrapper{disk.Slice(mustFile(t, true), 0, 1<<20)} }
	memOverlay := func() disk.Device { return disk.NewOverlay(mem()) }
	stripe := func(devs ...disk.Device) disk.Device {
		d, err := disk.Stripe(4096, devs...)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	roOverlay := disk.NewOverlay(ro())
	for _, tc := range []struct {
		name            string
		dev             disk.Device
		readOnly, local bool
	}{
		{"memory", mem(), false, true},
		{"file", mustFile(t, false), false, true},
		{"read-only file", mustFile(t, true), true, true},
		{"ReaderAt", ro(), true, false},
		{"slice of memory", disk.Slice(mem(), 4096, 8192), false, true},
		{"slice of a ReaderAt", disk.Slice(ro(), 0, 4096), true, false},
		{"concat of memory and a ReaderAt", disk.Concat(mem(), ro()), true, false},
		{"concat of nothing", disk.Concat(), false, false},
		{"stripe of memories", stripe(mem(), mem()), false, true},
		{"cache over a ReaderAt", disk.NewCache(ro(), nil), true, false},
		{"cache over memory", disk.NewCache(mem(), nil), false, true},
		{"overlay over a ReaderAt", roOverlay, false, false},
		{"overlay over memory", memOverlay(), false, true},
		{"cache over an overlay over a ReaderAt", disk.NewCache(roOverlay, nil), false, false},
		{"user wrapper over a ReaderAt", wrapper{ro()}, true, false},
		{"user wrapper over a slice of a read-only file", roLocal(), true, true},
		{"user wrapper over a cache over a slice of memory", wrapper{disk.NewCache(disk.Slice(mem(), 0, 4096), nil)}, false, true},
		{"wrapper that hides its device", hidden{mustFile(t, true)}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := disk.IsReadOnly(tc.dev); got != tc.readOnly {
				t.Errorf("IsReadOnly = %v, want %v", got, tc.readOnly)
			}
			if got := disk.IsLocal(tc.dev); got != tc.local {
				t.Errorf("IsLocal = %v, want %v", got, tc.local)
			}
		})
	}
}

// A qcow2 image opened by path is local (its files are on the host), and
// so is an overlay over it; it reads vectored.
func TestOpenQCOW2Local(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(raw, bytes.Repeat([]byte("gokernel"), 1<<17), 0o600); err != nil {
		t.Fatal(err)
	}
	img := qcow2Of(t, raw)
	for _, overlay := range []string{"", "memory"} {
		d, err := disk.Open(disk.Spec{Path: img, ReadOnly: true, Overlay: overlay})
		if err != nil {
			t.Fatal(err)
		}
		if !disk.IsLocal(d) || !disk.IsReadOnly(d) {
			t.Errorf("overlay %q: IsLocal %v, IsReadOnly %v; want both", overlay, disk.IsLocal(d), disk.IsReadOnly(d))
		}
		if overlay == "" {
			if _, ok := d.(disk.VectorReader); !ok {
				t.Error("a qcow2 device is no VectorReader")
			}
		}
		d.(interface{ Close() error }).Close()
	}
}

// mustFile opens a 1 MiB image file made for the test.
func mustFile(t *testing.T, readOnly bool) *disk.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := disk.OpenFile(path, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
