package fsprobe_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/fsprobe"
	"github.com/gokernel/gokernel/internal/imagetest"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz/FuzzProbe from real images")

// fuzzOffsets are where a fuzz input is put on the device: at the start,
// at iso9660's volume descriptors and at btrfs's superblock.
var fuzzOffsets = []int64{0, 0x8000, 0x10000}

// fuzzDevice is the device of one fuzz input: b at fuzzOffsets[at], in a
// device 64 KiB longer (the MD superblocks at its end read zeroes).
func fuzzDevice(at uint8, b []byte) disk.Device {
	off := fuzzOffsets[int(at)%len(fuzzOffsets)]
	m := disk.NewMemory(off + int64(len(b)) + 64<<10)
	m.WriteAt(b, off)
	return m
}

// seedCorpus cuts the superblock window out of an empty image of every
// kind imagetest makes: the bytes from the offset that holds it, with
// the trailing zeroes left out (the device reads zeroes there anyway).
func seedCorpus(t *testing.T) map[string][]byte {
	out := map[string][]byte{}
	for _, kind := range imagetest.EmptyKinds {
		img := imagetest.Empty(t, kind)
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		at := map[string]uint8{"iso9660": 1, "btrfs": 2}[kind]
		off := fuzzOffsets[at]
		w := bytes.TrimRight(b[off:off+min(int64(len(b))-off, 4096)], "\x00")
		out[kind] = fmt.Appendf(nil, "go test fuzz v1\nuint8(%d)\n[]byte(%q)\n", at, w)
	}
	return out
}

// TestSeedCorpus rewrites the seed corpus under -update, and otherwise
// checks that every committed seed is still recognised: a seed that is
// not fuzzes nothing past the magic numbers.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzProbe")
	if *update {
		os.MkdirAll(dir, 0o755)
		for kind, seed := range seedCorpus(t) {
			if err := os.WriteFile(filepath.Join(dir, kind), seed, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) < len(imagetest.EmptyKinds) {
		t.Fatalf("seed corpus in %s incomplete (%v): go test -run TestSeedCorpus -update", dir, err)
	}
	for _, e := range ents {
		at, b := readSeed(t, filepath.Join(dir, e.Name()))
		r, err := fsprobe.Probe(fuzzDevice(at, b))
		if err != nil {
			t.Errorf("seed %s: %v", e.Name(), err)
			continue
		}
		if r.Type == "" {
			t.Errorf("seed %s: recognised as %+v", e.Name(), r)
		}
	}
}

// readSeed decodes a corpus file of FuzzProbe.
func readSeed(t *testing.T, path string) (uint8, []byte) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var at uint8
	var q string
	if _, err := fmt.Sscanf(string(data), "go test fuzz v1\nuint8(%d)\n[]byte(%q)\n", &at, &q); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return at, []byte(q)
}

// FuzzProbe probes arbitrary bytes put where superblocks are: a bad
// superblock is not recognised or is an error, never a panic, a huge
// allocation or a hang.
func FuzzProbe(f *testing.F) {
	f.Fuzz(func(t *testing.T, at uint8, b []byte) {
		d := fuzzDevice(at, b)
		r, err := fsprobe.Probe(d)
		if err != nil {
			if !errors.Is(err, fsprobe.ErrUnknown) {
				t.Fatalf("a memory device's read failed: %v", err)
			}
			return
		}
		if r.Check.Verdict == "" {
			t.Fatalf("no verdict: %+v", r)
		}
	})
}
