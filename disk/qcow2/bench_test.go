package qcow2_test

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokernel/gokernel/disk/qcow2"
)

// BenchmarkSequentialRead reads a 1 GiB disk from start to end in 1 MiB
// requests, from the raw image and from the same disk converted to qcow2
// (64 KiB clusters, as qemu-img makes them), side by side:
//
//	go test -run '^$' -bench SequentialRead -count 6 ./disk/qcow2/ | tee /tmp/q.txt
//	go tool benchstat -col /format /tmp/q.txt
func BenchmarkSequentialRead(b *testing.B) {
	const size = 1 << 30
	dir := b.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	buf := make([]byte, 1<<20)
	for off := 0; off < size; off += len(buf) {
		for i := 0; i < len(buf); i += 8 {
			buf[i] = byte(rng.Uint32()) // nonzero everywhere: every cluster allocated
			buf[i+1] = 1
		}
		f.Write(buf)
	}
	f.Close()
	qc := filepath.Join(dir, "disk.qcow2")
	qemu(b, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qc)

	read := func(b *testing.B, r io.ReaderAt) {
		b.SetBytes(size)
		for b.Loop() {
			for off := int64(0); off < size; off += int64(len(buf)) {
				if _, err := r.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("format=raw", func(b *testing.B) {
		f, err := os.Open(raw)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		read(b, f)
	})
	b.Run("format=qcow2", func(b *testing.B) {
		img, err := qcow2.Open(qc, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer img.Close()
		read(b, img)
	})
}
