package imagemut_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/internal/imagemut"
	"github.com/gokernel/gokernel/internal/imagetest"
)

// tree is what the test images hold: directories, a file with extents
// and small files, so that there are directory blocks and extent trees.
var tree = imagetest.Tree{
	"a/":           "",
	"a/b/":         "",
	"a/b/c.txt":    "c\n",
	"hello.txt":    "hello\n",
	"big.bin":      string(bytes.Repeat([]byte("0123456789abcdef"), 20000)),
	"a/d.txt":      "d\n",
	"x => a/d.txt": "",
}

// wantKinds are the structures Locate must find on each type's image.
var wantKinds = map[string][]string{
	"ext4":  {"ext4-sb", "ext4-gd", "ext4-inode", "ext4-dir"},
	"xfs":   {"xfs-sb", "xfs-agf", "xfs-agi", "xfs-inode"},
	"btrfs": {"btrfs-sb", "btrfs-node"},
	"vfat":  {"vfat-boot", "vfat-fat", "vfat-dir"},
}

func open(t *testing.T, path string) *disk.File {
	t.Helper()
	f, err := disk.OpenFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestLocateAndPlan(t *testing.T) {
	for _, fstype := range imagemut.FSTypes {
		t.Run(fstype, func(t *testing.T) {
			img := imagetest.Build(t, fstype, tree.For(fstype))
			d := open(t, img)
			l, err := imagemut.Locate(d)
			if err != nil {
				t.Fatal(err)
			}
			if l.FSType != fstype {
				t.Fatalf("FSType %q, want %q", l.FSType, fstype)
			}
			kinds := map[string]int{}
			for _, r := range l.Regions {
				kinds[r.Kind]++
				if r.Off < 0 || r.Len <= 0 || r.Len > imagemut.MaxRegion || r.Off+int64(r.Len) > l.Size {
					t.Errorf("region %s at %d+%d outside the %d-byte image", r.Kind, r.Off, r.Len, l.Size)
				}
			}
			for _, k := range wantKinds[fstype] {
				if kinds[k] == 0 {
					t.Errorf("no %s found (found %v)", k, kinds)
				}
			}
			base, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			for seed := range uint64(50) {
				edits, err := imagemut.Plan(d, l, seed)
				if err != nil {
					t.Fatal(err)
				}
				again, _ := imagemut.Plan(d, l, seed)
				if !slices.EqualFunc(edits, again, func(a, b imagemut.Edit) bool {
					return a.Off == b.Off && bytes.Equal(a.Data, b.Data) && a.What == b.What
				}) {
					t.Fatalf("seed %d: two plans differ:\n%v\n%v", seed, edits, again)
				}
				mut := disk.NewMemory(int64(len(base)))
				if _, err := mut.WriteAt(base, 0); err != nil {
					t.Fatal(err)
				}
				if err := imagemut.Apply(mut, edits); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(base))
				if _, err := mut.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				checkOnlyEdited(t, seed, l, base, got, edits)
			}
		})
	}
}

// checkOnlyEdited fails unless got differs from base somewhere, only
// inside the edits, and every edit lies inside a located structure.
func checkOnlyEdited(t *testing.T, seed uint64, l *imagemut.Layout, base, got []byte, edits []imagemut.Edit) {
	t.Helper()
	if len(edits) == 0 {
		t.Fatalf("seed %d: no edits", seed)
	}
	inEdit := func(i int64) bool {
		for _, e := range edits {
			if i >= e.Off && i < e.Off+int64(len(e.Data)) {
				return true
			}
		}
		return false
	}
	for _, e := range edits {
		inside := false
		for _, r := range l.Regions {
			if e.Off >= r.Off && e.Off+int64(len(e.Data)) <= r.Off+int64(r.Len) {
				inside = true
			}
		}
		if !inside {
			t.Errorf("seed %d: edit %q at %d is in no located structure", seed, e.What, e.Off)
		}
	}
	diffs := 0
	for i := range base {
		if base[i] != got[i] {
			diffs++
			if !inEdit(int64(i)) {
				t.Fatalf("seed %d: byte %d changed outside the edits %v", seed, i, edits)
			}
		}
	}
	if diffs == 0 {
		t.Errorf("seed %d: the edits %v changed nothing", seed, edits)
	}
}

func TestLocateUnsupported(t *testing.T) {
	_, err := imagemut.Locate(disk.NewMemory(1 << 20))
	if !errors.Is(err, imagemut.ErrUnsupported) {
		t.Fatalf("Locate of zeroes: %v, want ErrUnsupported", err)
	}
}

// FuzzLocate feeds Locate garbage: the input is written at the start of
// a 192 KiB disk and again at 64 KiB (btrfs's superblock), so that each
// type's magic can be found and its headers give wild offsets and
// counts. Locate and Plan must not panic, and every region they report
// must lie inside the disk.
func FuzzLocate(f *testing.F) {
	ext := make([]byte, 2048)
	ext[1024+56], ext[1024+57] = 0x53, 0xEF
	ext[1024+24] = 2
	ext[1024+32], ext[1024+40], ext[1024+88] = 8, 8, 128
	f.Add(ext)
	xfs := append([]byte("XFSB\x00\x00\x10\x00"), make([]byte, 504)...)
	xfs[84+3], xfs[88+3], xfs[104+2] = 16, 4, 1
	f.Add(xfs)
	btrfs := make([]byte, 4096)
	copy(btrfs[64:], "_BHRfS_M")
	btrfs[148+1] = 0x40
	f.Add(btrfs)
	fat := make([]byte, 512)
	copy(fat, "\xEB\x3C\x90mkfs.fat\x00\x02\x04\x04\x00\x02\x00\x02\x00\x00\xF8\x20\x00")
	fat[510], fat[511] = 0x55, 0xAA
	copy(fat[54:], "FAT16   ")
	f.Add(fat)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		d := disk.NewMemory(192 << 10)
		d.WriteAt(data, 0)
		d.WriteAt(data, 64<<10)
		l, err := imagemut.Locate(d)
		if err != nil {
			return
		}
		for _, r := range l.Regions {
			if r.Off < 0 || r.Len <= 0 || r.Off+int64(r.Len) > d.Size() {
				t.Fatalf("region %s at %d+%d outside the disk", r.Kind, r.Off, r.Len)
			}
		}
		for seed := range uint64(4) {
			if _, err := imagemut.Plan(d, l, seed); err != nil {
				t.Fatal(err)
			}
		}
	})
}
