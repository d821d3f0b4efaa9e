package nbd_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gokernel/gokernel/disk/nbd"
)

// need skips the test when a tool is missing, naming its Debian package
// (.ci/run installs both).
func need(t testing.TB, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed (Debian package %s): %v", tool, pkg, err)
	}
}

// randomData returns n bytes of random data with runs of zeroes, so the
// converted images have sparse and compressed-looking parts.
func randomData(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{7, byte(n >> 20)}).Read(b)
	for i := 3 << 16; i < n; i += 5 << 16 { // every fifth 64 KiB is zero
		clear(b[i:min(n, i+1<<16)])
	}
	return b
}

// images writes data as raw.img and converts it with qemu-img to each of
// formats; it returns the paths by format.
func images(t testing.TB, data []byte, formats ...string) map[string]string {
	t.Helper()
	need(t, "qemu-img", "qemu-utils")
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.img")
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{"raw": raw}
	for _, f := range formats {
		p := filepath.Join(dir, "img."+f)
		if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", f, raw, p).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert -O %s: %v\n%s", f, err, out)
		}
		paths[f] = p
	}
	return paths
}

// server is a qemu-nbd or nbdkit process.
type server struct {
	cmd *exec.Cmd
	url string
}

// start runs cmd until the test ends.
func start(t testing.TB, cmd *exec.Cmd, url string) *server {
	t.Helper()
	var stderr bytes.Buffer // the servers complain about waitSocket's probes
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, url: url}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", cmd.Path, stderr.Bytes())
		}
	})
	return s
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// waitSocket waits until a unix socket accepts connections (the server
// is up), for at most 10 s.
func waitSocket(t testing.TB, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("NBD server socket %s: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// qemuNBD serves image (of the given format) on a unix socket, as export
// "disk", to up to 8 clients at once.
func qemuNBD(t testing.TB, image, format string, args ...string) *server {
	t.Helper()
	need(t, "qemu-nbd", "qemu-utils")
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	args = append([]string{"--socket=" + sock, "--format=" + format, "--export-name=disk", "--shared=8", "--persistent"}, args...)
	s := start(t, exec.Command("qemu-nbd", append(args, image)...), "nbd+unix:///disk?socket="+sock)
	waitSocket(t, sock)
	return s
}

// qemuNBDTCP serves image on 127.0.0.1 through socket activation: the
// test listens on port 0 first and hands the listening socket to
// qemu-nbd as fd 3 (LISTEN_FDS), so no port has to stay free.
func qemuNBDTCP(t testing.TB, image, format string) *server {
	t.Helper()
	need(t, "qemu-nbd", "qemu-utils")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// LISTEN_PID must be qemu-nbd's pid: the shell's, which exec keeps.
	script := `LISTEN_PID=$$ LISTEN_FDS=1 exec qemu-nbd --format=` + format + ` --export-name=disk --shared=8 --persistent "$0"`
	cmd := exec.Command("sh", "-c", script, image)
	cmd.ExtraFiles = []*os.File{f}
	return start(t, cmd, "nbd://"+ln.Addr().String()+"/disk")
}

// nbdkitMemory serves an nbdkit memory disk of the given size on a unix
// socket.
func nbdkitMemory(t testing.TB, size string) *server {
	t.Helper()
	need(t, "nbdkit", "nbdkit")
	sock := filepath.Join(t.TempDir(), "nbdkit.sock")
	s := start(t, exec.Command("nbdkit", "--foreground", "--exit-with-parent", "--unix", sock, "memory", size), "nbd+unix:///?socket="+sock)
	waitSocket(t, sock)
	return s
}

func dial(t testing.TB, url string, opts nbd.Options) *nbd.Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := nbd.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil && !errors.Is(err, nbd.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}
