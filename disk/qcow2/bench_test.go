package qcow2_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gokernel/gokernel/disk/qcow2"
)

const benchSize = 1 << 30

// benchImages makes the 1 GiB raw disk and its qcow2 once per test
// binary (-count runs the benchmark again); TestMain removes them.
var benchImages = func() func(b *testing.B) (raw, qc string) {
	var once sync.Once
	var err error
	return func(b *testing.B) (string, string) {
		raw, qc := filepath.Join(benchDir, "disk.raw"), filepath.Join(benchDir, "disk.qcow2")
		once.Do(func() {
			if _, err = os.Stat(qc); err == nil {
				return // kept from an earlier run in QCOW2_BENCH_DIR
			}
			var f *os.File
			if f, err = os.Create(raw); err != nil {
				return
			}
			rng := rand.New(rand.NewPCG(1, 1))
			buf := make([]byte, 1<<20)
			for off := 0; off < benchSize; off += len(buf) {
				for i := 0; i < len(buf); i += 8 {
					buf[i] = byte(rng.Uint32()) // nonzero everywhere: every cluster allocated
					buf[i+1] = 1
				}
				f.Write(buf)
			}
			if err = f.Close(); err != nil {
				return
			}
			if out, cerr := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qc).CombinedOutput(); cerr != nil {
				err = fmt.Errorf("qemu-img convert: %v: %s", cerr, out)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		return raw, qc
	}
}()

var benchDir string

// TestMain makes benchDir: QCOW2_BENCH_DIR, kept, or a temporary one,
// removed at the end.
func TestMain(m *testing.M) {
	if benchDir = os.Getenv("QCOW2_BENCH_DIR"); benchDir != "" {
		os.Exit(m.Run())
	}
	var err error
	if benchDir, err = os.MkdirTemp("", "qcow2-bench"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(benchDir)
	os.Exit(code)
}

// BenchmarkSequentialRead reads a 1 GiB disk from start to end in 1 MiB
// requests, from the raw image and from the same disk converted to qcow2
// (64 KiB clusters, as qemu-img makes them). Go runs one sub-benchmark's
// -count rounds in a row; to alternate them on a noisy machine, keep the
// images in QCOW2_BENCH_DIR and run whole processes in turn:
//
//	go test -c -o /tmp/q.test ./disk/qcow2/ && mkdir -p /tmp/qb
//	for i in 1 2 3 4 5 6; do for f in raw qcow2; do
//	  QCOW2_BENCH_DIR=/tmp/qb /tmp/q.test -test.run '^$' -test.bench "SequentialRead/impl=$f\$" -test.benchtime 3x
//	done; done | tee /tmp/q.txt
//	go tool benchstat -col /impl /tmp/q.txt
func BenchmarkSequentialRead(b *testing.B) {
	raw, qc := benchImages(b)
	buf := make([]byte, 1<<20)
	read := func(b *testing.B, r io.ReaderAt) {
		b.SetBytes(benchSize)
		for b.Loop() {
			for off := int64(0); off < benchSize; off += int64(len(buf)) {
				if _, err := r.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("impl=raw", func(b *testing.B) {
		f, err := os.Open(raw)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		read(b, f)
	})
	b.Run("impl=qcow2", func(b *testing.B) {
		img, err := qcow2.Open(qc, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer img.Close()
		read(b, img)
	})
}
