//go:build lkl

package lkl_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys/lkl"
)

// Every disk source a configuration can name mounts and reads back the
// image's files: qcow2 (detected and named), an image over HTTP Range
// requests, a vmdk served by qemu-nbd, and a qcow2 written through memory
// and sidecar overlays, whose image stays byte-identical.
func TestDiskSources(t *testing.T) {
	tree := imageTree("ext4")
	raw := imagetest.Build(t, "ext4", tree)
	dir := t.TempDir()
	qcow := filepath.Join(dir, "img.qcow2")
	imagetest.Run(t, "qemu-img", "convert", "-O", "qcow2", raw, qcow)
	vmdk := filepath.Join(dir, "img.vmdk")
	imagetest.Run(t, "qemu-img", "convert", "-O", "vmdk", raw, vmdk)
	qcowSum := sha(t, qcow)

	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(raw))))
	defer srv.Close()
	defer srv.CloseClientConnections()

	sock := filepath.Join(dir, "nbd.sock")
	nbd := exec.Command("qemu-nbd", "--read-only", "--persistent", "--format=vmdk", "--socket="+sock, vmdk)
	require.NoError(t, nbd.Start())
	defer func() { nbd.Process.Kill(); nbd.Wait() }()
	for i := 0; i < 200; i++ { // qemu-nbd makes its socket once it serves
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}

	check := func(t *testing.T, mp string) {
		for file, content := range tree.Files() {
			require.Equal(t, content, string(readFile(t, mp+"/"+file)), file)
		}
	}
	for _, tc := range []struct {
		name string
		disk lkl.Disk
	}{
		{"qcow2-detected", lkl.Disk{Path: qcow, ReadOnly: true}},
		{"qcow2-named", lkl.Disk{Path: qcow, Format: "qcow2", ReadOnly: true}},
		{"http", lkl.Disk{Path: srv.URL + "/" + filepath.Base(raw)}},
		{"nbd-vmdk", lkl.Disk{Path: "nbd+unix:///?socket=" + sock, ReadOnly: true}},
		{"qcow2-memory-overlay", lkl.Disk{Path: qcow, Overlay: "memory"}},
		{"qcow2-sidecar-overlay", lkl.Disk{Path: qcow, Overlay: filepath.Join(dir, "side.ovl")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.disk
			d.MountPoint = "/mnt/src-" + tc.name
			info, err := kern.AddDisk(d)
			require.NoError(t, err)
			require.Equal(t, "ext4", info.FSType)
			check(t, d.MountPoint)
			if d.Overlay != "" {
				writeFile(t, d.MountPoint+"/written.txt", []byte("through the overlay\n"))
				require.Equal(t, "through the overlay\n", string(readFile(t, d.MountPoint+"/written.txt")))
			}
			require.NoError(t, kern.Unmount(d.MountPoint))
		})
	}
	require.Equal(t, qcowSum, sha(t, qcow), "the qcow2 image was written")

	// The sidecar kept the writes: a read-only mount over it sees them.
	mp := "/mnt/src-sidecar-again"
	_, err := kern.AddDisk(lkl.Disk{Path: qcow, Overlay: filepath.Join(dir, "side.ovl"), ReadOnly: true, MountPoint: mp})
	require.NoError(t, err)
	require.Equal(t, "through the overlay\n", string(readFile(t, mp+"/written.txt")))
	require.NoError(t, kern.Unmount(mp))
	require.Equal(t, qcowSum, sha(t, qcow), "the qcow2 image was written")
}

// Bad disk values are errors naming their key, and the kernel keeps
// running.
func TestDiskSourceErrors(t *testing.T) {
	raw := imagetest.Build(t, "ext4", imageTree("ext4"))
	for _, tc := range []struct {
		name string
		disk lkl.Disk
		want string
	}{
		{"format", lkl.Disk{Path: raw, Format: "vmdk"}, "format"},
		{"qcow2-writable", lkl.Disk{Path: raw, Format: "qcow2"}, "format"},
		{"scheme", lkl.Disk{Path: "ftp://127.0.0.1/x.img"}, "no source for ftp:// URLs"},
		{"http-refused", lkl.Disk{Path: "http://127.0.0.1:1/x.img"}, "127.0.0.1:1"},
		{"missing", lkl.Disk{Path: "/nonexistent.img"}, "open /nonexistent.img: no such file or directory"},
		{"overlay-is-image", lkl.Disk{Path: raw, Overlay: raw}, "overlay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kern.AddDisk(tc.disk)
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), tc.want), "%v does not name %q", err, tc.want)
		})
	}
	// The kernel still answers.
	_, e := stat(t, unix.SYS_STAT, "/")
	require.Zero(t, e)
}
