package disk_test

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk"
)

// qcow2Of converts the raw image at raw to qcow2 with qemu-img.
func qcow2Of(t *testing.T, raw string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatal("qemu-img is missing: apt-get install qemu-utils (.ci/run installs it)")
	}
	out := filepath.Join(t.TempDir(), "disk.qcow2")
	if b, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, b)
	}
	return out
}

func TestOpen(t *testing.T) {
	_, data, raw := baseImage(t, 1<<20)
	os.Chmod(raw, 0o644)
	qc := qcow2Of(t, raw)
	rawHash, qcHash := fileHash(t, raw), fileHash(t, qc)
	sidecar := filepath.Join(t.TempDir(), "cow")
	mem := disk.NewMemory(1 << 20)
	mem.WriteAt(data, 0)
	sources := map[string]disk.Source{"mem": func(u *url.URL, readOnly bool) (disk.Device, error) {
		if u.Host != "disk" {
			return nil, errors.New("no such disk")
		}
		if !readOnly {
			return nil, errors.New("this test source is read-only")
		}
		return disk.ReaderAt(mem, mem.Size()), nil
	}}
	fds := openFDs(t)
	for _, tc := range []struct {
		name     string
		spec     disk.Spec
		readOnly bool // the device refuses writes
		changes  bool // writes reach the image file
		seen     bool // the sidecar's earlier write is seen
	}{
		{"raw", disk.Spec{Path: raw}, false, true, false},
		{"raw read-only", disk.Spec{Path: raw, ReadOnly: true}, true, false, false},
		{"raw memory overlay", disk.Spec{Path: raw, Format: "raw", Overlay: "memory"}, false, false, false},
		{"qcow2 detected read-only", disk.Spec{Path: qc, ReadOnly: true}, true, false, false},
		{"qcow2 memory overlay", disk.Spec{Path: qc, Overlay: "memory"}, false, false, false},
		{"qcow2 sidecar overlay", disk.Spec{Path: qc, Format: "qcow2", Overlay: sidecar}, false, false, false},
		{"qcow2 sidecar overlay read-only", disk.Spec{Path: qc, Overlay: sidecar, ReadOnly: true}, true, false, true},
		{"URL source with overlay", disk.Spec{Path: "mem://disk", Overlay: "memory", Sources: sources}, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := disk.Open(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Clone(data)
			if tc.seen {
				copy(want[4096:], "written")
			}
			got := make([]byte, len(data))
			if _, err := d.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("ReadAt: %v; equal: %v", err, bytes.Equal(got, want))
			}
			if disk.IsReadOnly(d) != tc.readOnly {
				t.Fatalf("IsReadOnly = %v, want %v", disk.IsReadOnly(d), tc.readOnly)
			}
			_, err = d.WriteAt([]byte("written"), 4096)
			if tc.readOnly != errors.Is(err, disk.ErrReadOnly) || (!tc.readOnly && err != nil) {
				t.Fatalf("WriteAt = %v (read-only %v)", err, tc.readOnly)
			}
			if !tc.readOnly {
				d.ReadAt(got[:7], 4096)
				if string(got[:7]) != "written" {
					t.Fatal("a write is not read back")
				}
			}
			if err := d.(io.Closer).Close(); err != nil {
				t.Fatal(err)
			}
			if (fileHash(t, raw) != rawHash) != tc.changes {
				t.Fatalf("raw image changed: %v, want %v", fileHash(t, raw) != rawHash, tc.changes)
			}
			if tc.changes {
				os.WriteFile(raw, data, 0o644)
			}
			if fileHash(t, qc) != qcHash {
				t.Fatal("the qcow2 image changed")
			}
		})
	}
	if _, ok := first(disk.Open(disk.Spec{Path: raw})).(*disk.File); !ok {
		t.Error("a raw file without overlay is not a *disk.File")
	}
	if n := openFDs(t); n > fds+1 { // the *disk.File just above
		t.Errorf("%d descriptors open before, %d after closing every device", fds, n-1)
	}
}

func TestOpenRefuses(t *testing.T) {
	_, _, raw := baseImage(t, 64<<10)
	qc := qcow2Of(t, raw)
	fds := openFDs(t)
	for _, tc := range []struct {
		name string
		spec disk.Spec
		want string
	}{
		{"no path", disk.Spec{}, "path: empty"},
		{"missing file", disk.Spec{Path: raw + ".nope"}, "path: open " + raw + ".nope"},
		{"unknown format", disk.Spec{Path: raw, Format: "vmdk"}, `format: "vmdk" is not a format gokernel reads (raw, qcow2)`},
		{"qcow2 writable", disk.Spec{Path: qc}, "format: qcow2 images are read-only here"},
		{"qcow2 named writable", disk.Spec{Path: qc, Format: "qcow2"}, "format: qcow2 images are read-only here"},
		{"raw named qcow2", disk.Spec{Path: raw, Format: "qcow2", ReadOnly: true}, "format: " + raw + ": qcow2: magic"},
		{"overlay is the image", disk.Spec{Path: raw, Overlay: raw}, "overlay: " + `"` + raw + `" is the image itself`},
		{"overlay not a sidecar", disk.Spec{Path: raw, Overlay: qc}, "overlay: disk: overlay sidecar " + qc + ": magic"},
		{"unknown scheme", disk.Spec{Path: "https://example.com/disk.img"}, "path: \"https://example.com/disk.img\": no source for https:// URLs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := disk.Open(tc.spec)
			if err == nil {
				d.(io.Closer).Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
	if n := openFDs(t); n > fds {
		t.Errorf("%d descriptors open before the refused opens, %d after", fds, n)
	}
}

func first[T any](v T, _ error) T { return v }
