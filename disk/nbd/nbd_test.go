package nbd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/disk/nbd"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const imageSize = 8 << 20

// readAll reads d in pieces of varying size and compares with want.
func readAll(t *testing.T, d *nbd.Device, want []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	p := make([]byte, 1<<20)
	for off := 0; off < len(want); {
		n := min(len(want)-off, 512*(1+r.IntN(2048)))
		if _, err := d.ReadAt(p[:n], int64(off)); err != nil {
			t.Fatalf("ReadAt(%d bytes at %d): %v", n, off, err)
		}
		if !bytes.Equal(p[:n], want[off:off+n]) {
			t.Fatalf("ReadAt(%d bytes at %d): data differs from the raw image", n, off)
		}
		off += n
	}
}

// TestQemuNBD reads a qcow2 and a vmdk made from a raw image by qemu-img,
// served by qemu-nbd on a unix socket and on 127.0.0.1, and compares
// them with the raw image byte for byte.
func TestQemuNBD(t *testing.T) {
	data := randomData(imageSize)
	img := images(t, data, "qcow2", "vmdk")
	tests := []struct {
		name   string
		format string
		tcp    bool
	}{
		{"qcow2 unix", "qcow2", false},
		{"vmdk unix", "vmdk", false},
		{"qcow2 tcp", "qcow2", true},
		{"vmdk tcp", "vmdk", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s *server
			if tc.tcp {
				s = qemuNBDTCP(t, img[tc.format], tc.format)
			} else {
				s = qemuNBD(t, img[tc.format], tc.format)
			}
			d := dial(t, s.url, nbd.Options{})
			if d.Size() != imageSize {
				t.Fatalf("Size = %d, want %d", d.Size(), imageSize)
			}
			readAll(t, d, data)
			// io.ReaderAt at the end.
			p := make([]byte, 4096)
			if n, err := d.ReadAt(p, imageSize-512); n != 512 || err != io.EOF {
				t.Errorf("ReadAt across the end = %d, %v; want 512, EOF", n, err)
			}
			if n, err := d.ReadAt(p, imageSize); n != 0 || err != io.EOF {
				t.Errorf("ReadAt at the end = %d, %v; want 0, EOF", n, err)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	data := randomData(1 << 20)
	img, img2 := images(t, data, "qcow2"), images(t, data, "qcow2") // qemu-nbd locks an image it writes
	ro := dial(t, qemuNBD(t, img["qcow2"], "qcow2", "--read-only").url, nbd.Options{})
	rw := qemuNBD(t, img2["qcow2"], "qcow2")
	opt := dial(t, rw.url, nbd.Options{ReadOnly: true})
	for name, d := range map[string]*nbd.Device{"qemu-nbd --read-only": ro, "Options.ReadOnly": opt} {
		t.Run(name, func(t *testing.T) {
			if !d.ReadOnly() {
				t.Error("ReadOnly() = false")
			}
			if _, err := d.WriteAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrReadOnly) {
				t.Errorf("WriteAt: %v; want ErrReadOnly", err)
			}
			if err := d.Discard(0, 4096); !errors.Is(err, nbd.ErrReadOnly) {
				t.Errorf("Discard: %v; want ErrReadOnly", err)
			}
			if err := d.WriteZeroes(0, 4096); !errors.Is(err, nbd.ErrReadOnly) {
				t.Errorf("WriteZeroes: %v; want ErrReadOnly", err)
			}
			readAll(t, d, data)
		})
	}
	if d := dial(t, rw.url, nbd.Options{}); d.ReadOnly() {
		t.Error("a writable qemu-nbd export says ReadOnly")
	}
}

// TestNbdkitMemory writes, flushes, trims and zeroes an nbdkit memory disk
// and reads every change back.
func TestNbdkitMemory(t *testing.T) {
	d := dial(t, nbdkitMemory(t, "64M").url, nbd.Options{})
	const size = 64 << 20
	if d.Size() != size || d.ReadOnly() {
		t.Fatalf("Size %d, ReadOnly %v; want %d, false", d.Size(), d.ReadOnly(), size)
	}
	want := make([]byte, size)
	// check compares [off, off+n) of the disk with want.
	check := func(what string, off, n int64) {
		t.Helper()
		got := make([]byte, n)
		if _, err := d.ReadAt(got, off); err != nil {
			t.Fatalf("%s: ReadAt: %v", what, err)
		}
		if !bytes.Equal(got, want[off:off+n]) {
			t.Fatalf("%s: %d bytes at %d differ from what was written", what, n, off)
		}
	}
	// 40 MiB: more than the 32 MiB a request may carry, so it is split.
	big := randomData(40 << 20)
	if _, err := d.WriteAt(big, 4096); err != nil {
		t.Fatal(err)
	}
	copy(want[4096:], big)
	small := []byte("hello, nbd\n")
	if _, err := d.WriteAt(small, 60<<20+7); err != nil {
		t.Fatal(err)
	}
	copy(want[60<<20+7:], small)
	if err := d.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	check("after writes", 0, size)

	if err := d.WriteZeroes(1<<20, 3<<20); err != nil {
		t.Fatalf("WriteZeroes: %v", err)
	}
	clear(want[1<<20 : 4<<20])
	check("after WriteZeroes", 0, 5<<20)

	// nbdkit memory trims to zeroes.
	if err := d.Discard(8<<20, 1<<20); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	clear(want[8<<20 : 9<<20])
	check("after Discard", 7<<20, 3<<20)

	if _, err := d.WriteAt(make([]byte, 512), size-256); err == nil {
		t.Error("WriteAt past the end: no error")
	}
}

// TestConcurrent reads random ranges of a qcow2 through qemu-nbd and
// writes and reads back private ranges of an nbdkit disk, from 64
// goroutines on one connection each.
func TestConcurrent(t *testing.T) {
	data := randomData(imageSize)
	img := images(t, data, "qcow2")
	rd := dial(t, qemuNBD(t, img["qcow2"], "qcow2").url, nbd.Options{MaxInFlight: 8})
	wr := dial(t, nbdkitMemory(t, "16M").url, nbd.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 128)
	for g := range 64 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			p := make([]byte, 64<<10)
			for range 40 {
				off := r.Int64N(imageSize/512) * 512
				n := min(int64(len(p)), imageSize-off)
				if _, err := rd.ReadAt(p[:n], off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(p[:n], data[off:off+n]) {
					errs <- fmt.Errorf("read %d bytes at %d: differs from the raw image", n, off)
					return
				}
			}
		})
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 10))
			base := int64(g) * (16 << 20 / 64) // 256 KiB of its own
			w, p := make([]byte, 16<<10), make([]byte, 16<<10)
			for range 20 {
				off := base + r.Int64N(15)*(16<<10)
				for i := range w {
					w[i] = byte(r.Uint32())
				}
				if _, err := wr.WriteAt(w, off); err != nil {
					errs <- err
					return
				}
				if _, err := wr.ReadAt(p, off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(p, w) {
					errs <- fmt.Errorf("read back %d bytes at %d: differs from what was written", len(p), off)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestServerKilled kills qemu-nbd while 16 goroutines read: every read
// in flight and every later call fails with ErrDisconnected; none hangs.
func TestServerKilled(t *testing.T) {
	data := randomData(imageSize)
	img := images(t, data, "qcow2")
	s := qemuNBD(t, img["qcow2"], "qcow2")
	d := dial(t, s.url, nbd.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	started := make(chan struct{}, 16)
	for g := range 16 {
		wg.Go(func() {
			p := make([]byte, 256<<10)
			for i := 0; ; i++ {
				off := int64((g*31+i)%(imageSize/len(p))) * int64(len(p))
				if _, err := d.ReadAt(p, off); err != nil {
					errs <- err
					return
				}
				if i == 0 {
					started <- struct{}{}
				}
			}
		})
	}
	for range 16 {
		<-started
	}
	s.kill()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, nbd.ErrDisconnected) {
			t.Errorf("read when the server died: %v; want ErrDisconnected", err)
		}
	}
	if _, err := d.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrDisconnected) {
		t.Errorf("ReadAt after the server died: %v; want ErrDisconnected", err)
	}
	if err := d.Flush(); !errors.Is(err, nbd.ErrDisconnected) {
		t.Errorf("Flush after the server died: %v; want ErrDisconnected", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close after the server died: %v", err)
	}
	if _, err := d.ReadAt(make([]byte, 512), 0); !errors.Is(err, nbd.ErrClosed) {
		t.Errorf("ReadAt after Close: %v; want ErrClosed", err)
	}
}

func TestDialErrors(t *testing.T) {
	tests := []struct{ name, url string }{
		{"scheme", "http://x/y"},
		{"tls", "nbds://127.0.0.1/x"},
		{"no socket", "nbd+unix:///x"},
		{"unix with host", "nbd+unix://h/x?socket=/tmp/s"},
		{"no host", "nbd:///x"},
		{"nothing listening", "nbd+unix:///x?socket=/nonexistent/nbd.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d, err := nbd.Dial(context.Background(), tc.url, nbd.Options{}); err == nil {
				d.Close()
				t.Errorf("Dial(%q): no error", tc.url)
			}
		})
	}
	t.Run("unknown export", func(t *testing.T) {
		img := images(t, randomData(1<<20), "qcow2")
		s := qemuNBD(t, img["qcow2"], "qcow2")
		_, err := nbd.Dial(context.Background(), s.url[:len("nbd+unix:///")]+"nope"+s.url[len("nbd+unix:///disk"):], nbd.Options{})
		var oe *nbd.OptionError
		if !errors.As(err, &oe) || oe.Reply != "NBD_REP_ERR_UNKNOWN" {
			t.Errorf("Dial of an unknown export: %v; want an OptionError NBD_REP_ERR_UNKNOWN", err)
		}
	})
}

// TestNoFdLeak dials and closes an nbdkit export 20 times: the process's
// open fds are as before.
func TestNoFdLeak(t *testing.T) {
	s := nbdkitMemory(t, "1M")
	before := openFds(t)
	for range 20 {
		d := dial(t, s.url, nbd.Options{})
		if _, err := d.ReadAt(make([]byte, 4096), 0); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if after := openFds(t); after != before {
		t.Errorf("%d open fds after 20 Dial/Close, %d before", after, before)
	}
}

// openFds counts the process's open file descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
