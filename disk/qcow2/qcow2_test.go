package qcow2_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gokernel/gokernel/disk/qcow2"
	"github.com/gokernel/gokernel/internal/imagetest"
)

// qemu runs a qemu-utils tool (qemu-img, qemu-io) and fails the test on
// an error.
func qemu(t testing.TB, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is missing: apt-get install qemu-utils (.ci/run installs it)", name)
	}
	// Making a LUKS header, qemu-img times PBKDF2 by CPU time and gives up
	// with "Unable to get accurate CPU usage" when the process got too
	// little of it (seen on a loaded 2-core machine): that one error is
	// tried again, a few times.
	for try := 1; ; try++ {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err == nil {
			return
		}
		if try < 5 && strings.Contains(string(out), "Unable to get accurate CPU usage") {
			continue
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// rawExt4 returns the path and contents of an ext4 image holding a few
// MiB of random file data, built once per test binary (in benchDir) and
// never written: tests link or convert it.
func rawExt4(t *testing.T) (string, []byte) {
	t.Helper()
	ext4Once.Do(func() {
		rng := rand.New(rand.NewPCG(3, 4))
		tree := imagetest.Tree{"dir/": "", "link => dir/f0": ""}
		for i := range 24 {
			b := make([]byte, 1+rng.IntN(300<<10))
			for j := range b {
				b[j] = byte(rng.Uint32() >> (j % 3 * 8)) // some compressible, some not
			}
			tree[fmt.Sprintf("dir/f%d", i)] = string(b)
		}
		built := imagetest.Build(t, "ext4", tree)
		var err error
		if ext4Data, err = os.ReadFile(built); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(benchDir, "ext4.raw"), ext4Data, 0o444); err != nil {
			t.Fatal(err)
		}
	})
	if ext4Data == nil {
		t.Fatal("building the ext4 image failed in an earlier test")
	}
	return filepath.Join(benchDir, "ext4.raw"), bytes.Clone(ext4Data)
}

var (
	ext4Once sync.Once
	ext4Data []byte
)

// compare reads the whole of img, in chunks of odd sizes and then at
// random offsets, and compares it with want.
func compare(t *testing.T, img *qcow2.Image, want []byte) {
	t.Helper()
	if img.Size() != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", img.Size(), len(want))
	}
	got := make([]byte, len(want))
	for off, n := 0, 0; off < len(want); off += n {
		n = min(len(want)-off, 1<<20+4096+512)
		if k, err := img.ReadAt(got[off:off+n], int64(off)); err != nil || k != n {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, k, err)
		}
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("the image differs from the raw disk at byte %d", i)
	}
	randomReads(t, "ReadAt", want, func(p []byte, off int64, _ *rand.Rand) (int, error) { return img.ReadAt(p, off) })
	if n, err := img.ReadAt(make([]byte, 1024), int64(len(want)-512)); n != 512 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v; want 512, io.EOF", n, err)
	}
	compareVectored(t, img, want)
}

// compareVectored reads the whole of img with ReadvAt in requests of 16
// buffers of 4 KiB (a virtio-blk request of LKL's), then at random offsets
// into buffers of random sizes (some empty), and compares it with want.
func compareVectored(t *testing.T, img *qcow2.Image, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	for off := 0; off < len(want); off += 64 << 10 {
		n := min(len(want)-off, 64<<10)
		var bufs [][]byte
		for i := 0; i < n; i += 4096 {
			bufs = append(bufs, got[off+i:off+min(n, i+4096)])
		}
		if k, err := img.ReadvAt(bufs, int64(off)); err != nil || k != n {
			t.Fatalf("ReadvAt(%d bytes at %d in %d buffers) = %d, %v", n, off, len(bufs), k, err)
		}
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("ReadvAt: the image differs from the raw disk at byte %d", i)
	}
	randomReads(t, "ReadvAt", want, func(p []byte, off int64, rng *rand.Rand) (int, error) {
		var bufs [][]byte
		for rest := p; len(rest) > 0; {
			k := min(len(rest), rng.IntN(3)*rng.IntN(40<<10))
			bufs, rest = append(bufs, rest[:k]), rest[k:]
		}
		return img.ReadvAt(bufs, off)
	})
	tail := [][]byte{make([]byte, 256), make([]byte, 256), make([]byte, 512)}
	if n, err := img.ReadvAt(tail, int64(len(want)-512)); n != 512 || err != io.EOF {
		t.Errorf("ReadvAt across the end = %d, %v; want 512, io.EOF", n, err)
	}
	if !bytes.Equal(append(tail[0], tail[1]...), want[len(want)-512:]) {
		t.Error("ReadvAt across the end: wrong bytes before the end")
	}
}

// randomReads reads 200 random ranges of up to 300 KiB with read and
// compares each with want.
func randomReads(t *testing.T, name string, want []byte, read func(p []byte, off int64, rng *rand.Rand) (int, error)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		n := 1 + rng.IntN(300<<10)
		off := rng.IntN(len(want) - n)
		p := make([]byte, n)
		if k, err := read(p, int64(off), rng); err != nil || k != n {
			t.Fatalf("%s(%d bytes at %d) = %d, %v", name, n, off, k, err)
		}
		if !bytes.Equal(p, want[off:off+n]) {
			t.Fatalf("%s(%d bytes at %d) differs from the raw disk", name, n, off)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func TestQemuImages(t *testing.T) {
	raw, want := rawExt4(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		convert []string // qemu-img convert options
		version int
	}{
		{"v2", []string{"-o", "compat=0.10"}, 2},
		{"v3", []string{"-o", "compat=1.1"}, 3},
		{"v2 compressed", []string{"-c", "-o", "compat=0.10"}, 2},
		{"v3 compressed", []string{"-c", "-o", "compat=1.1"}, 3},
		{"512-byte clusters", []string{"-o", "compat=1.1,cluster_size=512"}, 3},
		{"2 MiB clusters compressed", []string{"-c", "-o", "compat=1.1,cluster_size=2M"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".qcow2")
			qemu(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, tc.convert...), raw, path)...)
			img, err := qcow2.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			if img.Version() != tc.version {
				t.Errorf("Version() = %d, want %d", img.Version(), tc.version)
			}
			compare(t, img, want)
		})
	}
}

// TestQemuChain reads a three-image chain: a raw base, a qcow2 over it
// (relative backing name) and a v3 qcow2 over that with data, zero
// clusters and discarded clusters written by qemu-io.
func TestQemuChain(t *testing.T) {
	raw, want := rawExt4(t)
	dir := t.TempDir()
	if err := os.Symlink(raw, filepath.Join(dir, "base.raw")); err != nil {
		t.Fatal(err)
	}
	mid, top := filepath.Join(dir, "mid.qcow2"), filepath.Join(dir, "top.qcow2")
	qemu(t, "qemu-img", "create", "-f", "qcow2", "-o", "compat=0.10", "-b", "base.raw", "-F", "raw", mid)
	qemu(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 1M 192k", "-c", "write -c -P 0x22 4M 64k", mid)
	qemu(t, "qemu-img", "create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top)
	qemu(t, "qemu-io", "-f", "qcow2",
		"-c", "write -P 0x33 1088k 8k", // inside mid's data: a partial cluster
		"-c", "write -z 2M 128k", // zero clusters over the raw base
		"-c", "write -P 0x44 8M 4k", "-c", "discard 8M 64k", // allocated then zeroed
		top)
	fill := func(off, n int, b byte) { copy(want[off:off+n], bytes.Repeat([]byte{b}, n)) }
	fill(1<<20, 192<<10, 0x11)
	fill(4<<20, 64<<10, 0x22)
	fill(1088<<10, 8<<10, 0x33)
	fill(2<<20, 128<<10, 0)
	fill(8<<20, 64<<10, 0)
	img, err := qcow2.Open(top, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.BackingFile() != "mid.qcow2" {
		t.Errorf("BackingFile() = %q", img.BackingFile())
	}
	compare(t, img, want)

	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := range 16 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 9))
				for range 100 {
					n := 512 * (1 + rng.IntN(256))
					off := 512 * rng.IntN((len(want)-n)/512)
					p := make([]byte, n)
					if _, err := img.ReadAt(p, int64(off)); err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(p, want[off:off+n]) {
						errs <- fmt.Errorf("concurrent ReadAt(%d bytes at %d) differs", n, off)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	t.Run("depth", func(t *testing.T) {
		_, err := qcow2.Open(top, &qcow2.Options{MaxChain: 1})
		if err == nil || !strings.Contains(err.Error(), "backing chain longer than 1") {
			t.Fatalf("Open with MaxChain 1 = %v", err)
		}
	})
	t.Run("New refuses backing files", func(t *testing.T) {
		f, _ := os.Open(top)
		defer f.Close()
		fi, _ := f.Stat()
		var fe *qcow2.FormatError
		if _, err := qcow2.New(f, fi.Size(), nil); !errors.As(err, &fe) || fe.Field != "backing_file" {
			t.Fatalf("New of an image with a backing file = %v", err)
		}
	})
}

func TestQemuRefused(t *testing.T) {
	dir := t.TempDir()
	loopA, loopB := filepath.Join(dir, "a.qcow2"), filepath.Join(dir, "b.qcow2")
	qemu(t, "qemu-img", "create", "-f", "qcow2", loopA, "1M")
	qemu(t, "qemu-img", "create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", loopB)
	qemu(t, "qemu-img", "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", loopA)
	for _, tc := range []struct {
		name        string
		create      []string // qemu-img create options; nil: the loop
		unsupported bool
		want        string
	}{
		{"encrypted", []string{"--object", "secret,id=s0,data=123456", "-o", "encrypt.format=luks,encrypt.key-secret=s0"}, true, "crypt_method: encrypted"},
		{"external data file", []string{"-o", "data_file=" + filepath.Join(dir, "data.raw")}, true, "an external data file"},
		{"zstd", []string{"-o", "compression_type=zstd"}, true, "zstd compression"},
		{"extended L2", []string{"-o", "extended_l2=on"}, true, "extended L2 entries"},
		{"loop", nil, false, "backing chain loops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := loopB
			if tc.create != nil {
				path = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".qcow2")
				qemu(t, "qemu-img", append(append([]string{"create", "-f", "qcow2"}, tc.create...), path, "1M")...)
			}
			img, err := qcow2.Open(path, nil)
			if err == nil {
				img.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || errors.Is(err, errors.ErrUnsupported) != tc.unsupported {
				t.Fatalf("error %q: want %q, errors.ErrUnsupported %v", err, tc.want, tc.unsupported)
			}
		})
	}
}
