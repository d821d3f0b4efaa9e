package qcow2_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokernel/gokernel/disk/qcow2"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz/FuzzQCOW2 with qemu-img")

// seedImages makes the tiny images of the seed corpus with qemu-img and
// qemu-io: 512-byte clusters, a few KiB each, with data, compressed and
// zero clusters, in both versions.
func seedImages(t *testing.T) map[string][]byte {
	dir := t.TempDir()
	out := map[string][]byte{}
	for _, tc := range []struct {
		name, opts string
		io         []string
	}{
		{"v2-data", "compat=0.10,cluster_size=512", []string{"write -P 0x5a 0 1k", "write -c -P 0x33 4k 512"}},
		{"v3-data-zero-compressed", "compat=1.1,cluster_size=512", []string{"write -P 0x5a 512 1k", "write -z 2k 1k", "write -c -P 0x33 4k 512"}},
		{"v3-empty", "compat=1.1,cluster_size=512", nil},
	} {
		path := filepath.Join(dir, tc.name)
		qemu(t, "qemu-img", "create", "-f", "qcow2", "-o", tc.opts, path, "64k")
		for _, c := range tc.io {
			qemu(t, "qemu-io", "-f", "qcow2", "-c", c, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out[tc.name] = b
	}
	return out
}

// TestSeedCorpus rewrites the seed corpus under -update, and otherwise
// checks that each seed still opens: a seed that does not open fuzzes
// nothing past the header.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzQCOW2")
	if *update {
		os.MkdirAll(dir, 0o755)
		for name, b := range seedImages(t) {
			if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("no seed corpus in %s (%v): go test -run TestSeedCorpus -update", dir, err)
	}
	for name, b := range seedImages(t) {
		img, err := qcow2.New(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
		if _, err := img.ReadAt(make([]byte, img.Size()), 0); err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
	}
}

// FuzzQCOW2 opens arbitrary bytes as an image and reads parts of its
// disk: a bad image is an error, never a panic, a huge allocation or a
// hang.
func FuzzQCOW2(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := qcow2.New(bytes.NewReader(b), int64(len(b)), &qcow2.Options{CacheBytes: 64 << 10})
		if err != nil {
			return
		}
		p := make([]byte, 64<<10)
		for _, off := range []int64{0, img.Size() / 2, img.Size() - int64(len(p))} {
			if off >= 0 {
				img.ReadAt(p, off)
				img.ReadvAt([][]byte{p[:1000], p[1000:5000], nil, p[5000:]}, off)
			}
		}
	})
}

// TestBadHeaders patches one field of a good image at a time: each is a
// FormatError naming the field.
func TestBadHeaders(t *testing.T) {
	good := seedImages(t)["v3-data-zero-compressed"]
	be := binary.BigEndian
	for _, tc := range []struct {
		name, field string
		patch       func(b []byte)
		unsupported bool
	}{
		{"magic", "magic", func(b []byte) { b[0] = 'X' }, false},
		{"version 1", "version", func(b []byte) { be.PutUint32(b[4:], 1) }, true},
		{"cluster bits 30", "cluster_bits", func(b []byte) { be.PutUint32(b[20:], 30) }, false},
		{"cluster bits 8", "cluster_bits", func(b []byte) { be.PutUint32(b[20:], 8) }, false},
		{"cluster larger than the file", "cluster_bits", func(b []byte) { be.PutUint32(b[20:], 21) }, false},
		{"size beyond the L1 table", "l1_size", func(b []byte) { be.PutUint64(b[24:], 1<<40) }, false},
		{"huge size", "size", func(b []byte) { be.PutUint64(b[24:], 1<<63) }, false},
		{"huge L1", "l1_size", func(b []byte) { be.PutUint32(b[36:], 1<<31) }, false},
		{"L1 past the file", "l1_table_offset", func(b []byte) { be.PutUint64(b[40:], 1<<40) }, false},
		{"L1 unaligned", "l1_table_offset", func(b []byte) { be.PutUint64(b[40:], be.Uint64(b[40:])+8) }, false},
		{"encrypted", "crypt_method", func(b []byte) { be.PutUint32(b[32:], 1) }, true},
		{"corrupt", "incompatible_features", func(b []byte) { b[79] |= 2 }, false},
		{"unknown feature", "incompatible_features", func(b []byte) { b[72] |= 0x80 }, true},
		{"header length", "header_length", func(b []byte) { be.PutUint32(b[100:], 7) }, false},
		{"refcount order", "refcount_order", func(b []byte) { be.PutUint32(b[96:], 7) }, false},
		{"backing name past the file", "backing_file_offset", func(b []byte) { be.PutUint64(b[8:], 1<<30); be.PutUint32(b[16:], 10) }, false},
		{"backing name too long", "backing_file_size", func(b []byte) { be.PutUint64(b[8:], 200); be.PutUint32(b[16:], 5000) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			tc.patch(b)
			_, err := qcow2.New(bytes.NewReader(b), int64(len(b)), nil)
			var fe *qcow2.FormatError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v: want a FormatError naming %s", err, tc.field)
			}
			if errors.Is(err, errors.ErrUnsupported) != tc.unsupported {
				t.Fatalf("error %v: errors.ErrUnsupported should be %v", err, tc.unsupported)
			}
		})
	}
}
