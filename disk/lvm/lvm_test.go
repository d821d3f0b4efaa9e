package lvm_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/lvm"
	"github.com/gokernel/gokernel/internal/imagetest"
)

// twoPVs makes two 64 MiB images, PVs of the VG tvg, with a striped LV
// str (16 MiB, 2 stripes of 64 KiB) and a linear LV lin (80 MiB, so it
// spans both PVs), each filled with random bytes; it returns the images,
// their loop devices and the LVs' contents.
func twoPVs(t *testing.T) (imgs, loops []string, want map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	imgs = []string{imagetest.Blank(t, filepath.Join(dir, "a.img"), 64<<20), imagetest.Blank(t, filepath.Join(dir, "b.img"), 64<<20)}
	loops = imagetest.Loops(t, imgs...)
	imagetest.LVM(t, loops, "pvcreate", loops...)
	imagetest.LVM(t, loops, "vgcreate", append([]string{"tvg"}, loops...)...)
	imagetest.LVM(t, loops, "lvcreate", "-n", "str", "-i", "2", "-I", "64k", "-L", "16M", "tvg")
	imagetest.LVM(t, loops, "lvcreate", "-n", "lin", "-L", "80M", "tvg")
	want = map[string][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, size := range map[string]int{"str": 16 << 20, "lin": 80 << 20} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, b, 0o644); err != nil {
			t.Fatal(err)
		}
		imagetest.FillLV(t, loops, "tvg", name, src)
		want[name] = b
	}
	return imgs, loops, want
}

func openImages(t *testing.T, imgs ...string) []disk.Device {
	t.Helper()
	var devs []disk.Device
	for _, img := range imgs {
		f, err := disk.OpenFile(img, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		devs = append(devs, f)
	}
	return devs
}

// TestTwoPVs reads the VG with lvm2's tools' report beside it: PVs,
// LVs, segments, and every byte of the LVs.
func TestTwoPVs(t *testing.T) {
	imgs, loops, want := twoPVs(t)
	vgs, err := lvm.Scan(openImages(t, imgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(vgs) != 1 || vgs[0].Name != "tvg" {
		t.Fatalf("VGs %v, want tvg", vgs)
	}
	vg := vgs[0]
	if len(vg.Warnings) != 0 {
		t.Errorf("warnings: %q", vg.Warnings)
	}
	// PVs as pvs reports them.
	uuidOf := map[string]string{}
	for _, p := range imagetest.PVs(t, loops) {
		uuidOf[p.Dev] = p.UUID
		i := slices.IndexFunc(vg.PVs, func(v *lvm.VGPV) bool { return v.UUID == p.UUID })
		if i < 0 {
			t.Errorf("pvs lists %s (%s), the VG does not", p.Dev, p.UUID)
			continue
		}
		v := vg.PVs[i]
		if v.PEStart != p.PEStart || vg.ExtentSize != p.ExtSize || v.PV == nil || v.PV.UUID != p.UUID {
			t.Errorf("PV %s: pe_start %d, extent size %d, found %v; pvs says %d, %d", v.Name, v.PEStart, vg.ExtentSize, v.PV != nil, p.PEStart, p.ExtSize)
		}
	}
	// Segments as lvs reports them.
	for _, s := range imagetest.LVSegs(t, loops, "tvg") {
		lv := vg.LV(s.LV)
		if lv == nil {
			t.Errorf("lvs lists %s, the VG does not", s.LV)
			continue
		}
		i := slices.IndexFunc(lv.Segments, func(g lvm.Segment) bool { return g.StartExtent*vg.ExtentSize == s.Start })
		if i < 0 {
			t.Errorf("%s: no segment at %d bytes", s.LV, s.Start)
			continue
		}
		g := lv.Segments[i]
		typ := g.Type
		if typ == "striped" && len(g.Stripes) == 1 {
			typ = "linear"
		}
		if typ != s.Type || g.ExtentCount*vg.ExtentSize != s.Size || len(g.Stripes) != s.Stripes || g.StripeSize != s.StripeSize {
			t.Errorf("%s segment %d: %s, %d bytes, %d stripes of %d; lvs says %s, %d, %d of %d", s.LV, i, typ, g.ExtentCount*vg.ExtentSize, len(g.Stripes), g.StripeSize, s.Type, s.Size, s.Stripes, s.StripeSize)
		}
		for k, r := range s.PEs {
			st := g.Stripes[k]
			if vg.PVs[slices.IndexFunc(vg.PVs, func(v *lvm.VGPV) bool { return v.Name == st.PV })].UUID != uuidOf[r.Dev] || st.StartExtent != r.First {
				t.Errorf("%s segment %d stripe %d: %s extent %d; lvs says %s:%d", s.LV, i, k, st.PV, st.StartExtent, r.Dev, r.First)
			}
		}
	}
	// Every byte, through every name.
	for name, b := range want {
		lv := lvm.Find(vgs, "tvg/"+name)
		for _, n := range []string{"/dev/tvg/" + name, "/dev/mapper/tvg-" + name} {
			if lvm.Find(vgs, n) != lv {
				t.Errorf("Find(%q) is not tvg/%s", n, name)
			}
		}
		d, err := lv.Open()
		if err != nil {
			t.Fatal(err)
		}
		if d.Size() != int64(len(b)) {
			t.Errorf("%s: %d bytes, want %d", name, d.Size(), len(b))
		}
		got := make([]byte, len(b))
		// Odd-sized reads that cross stripes, segments and PVs.
		for off := 0; off < len(got); off += 1<<20 + 4097 {
			if _, err := d.ReadAt(got[off:min(off+1<<20+4097, len(got))], int64(off)); err != nil {
				t.Fatalf("%s: read at %d: %v", name, off, err)
			}
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s: the LV's bytes differ from what was written into its extents", name)
		}
		if !disk.IsReadOnly(d) {
			t.Errorf("%s: writable on read-only PVs", name)
		}
	}
}

// TestMissingPV opens the VG with one of its two images: the LVs with
// extents on the other are refused with its name.
func TestMissingPV(t *testing.T) {
	imgs, _, _ := twoPVs(t)
	vgs, err := lvm.Scan(openImages(t, imgs[0])...)
	if err != nil {
		t.Fatal(err)
	}
	if len(vgs) != 1 || len(vgs[0].Warnings) != 1 || !strings.Contains(vgs[0].Warnings[0], "missing") {
		t.Fatalf("VGs %v, want tvg with a warning about the missing PV", vgs)
	}
	_, err = lvm.Find(vgs, "tvg/lin").Open()
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("opening lin without its second PV: %v", err)
	}
}

// TestThinPool: the thin pool and the thin LV are listed with their
// types and refused; the linear LV beside them opens.
func TestThinPool(t *testing.T) {
	img := imagetest.Blank(t, filepath.Join(t.TempDir(), "thin.img"), 64<<20)
	loops := imagetest.Loops(t, img)
	imagetest.LVM(t, loops, "pvcreate", loops...)
	imagetest.LVM(t, loops, "vgcreate", "thvg", loops[0])
	imagetest.LVM(t, loops, "lvcreate", "-n", "lin", "-L", "8M", "thvg")
	imagetest.ThinPool(t, loops, "thvg")
	vgs, err := lvm.Scan(openImages(t, img)...)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, s := range imagetest.LVSegs(t, loops, "thvg") {
		types[s.LV] = s.Type
	}
	for name, typ := range types {
		lv := lvm.Find(vgs, "thvg/"+name)
		if lv == nil {
			t.Errorf("no LV %s (lvs lists it as %s)", name, typ)
			continue
		}
		if got := lv.SegTypes(); len(got) != 1 || got[0] != typ {
			t.Errorf("%s: types %v, lvs says %s", name, got, typ)
		}
		_, err := lv.Open()
		switch typ {
		case "linear":
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		default:
			if !errors.Is(err, lvm.ErrUnsupported) || !strings.Contains(err.Error(), "is a "+typ+" LV") {
				t.Errorf("%s (%s): Open: %v, want an error naming the type", name, typ, err)
			}
		}
		if visible := !strings.HasPrefix(name, "pool_t"); lv.Visible != visible {
			t.Errorf("%s: visible %v", name, lv.Visible)
		}
	}
	if len(types) != 5 {
		t.Errorf("lvs lists %v; want lin, pool, pool_tdata, pool_tmeta, thin", types)
	}
}

// corrupt flips a byte in the middle of the newest metadata text on img.
func corrupt(t *testing.T, img string) {
	t.Helper()
	devs := openImages(t, img)
	pv, err := lvm.ReadPV(devs[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	text := pv.Metadata[0].Text
	at := bytes.LastIndex(b[:2<<20], text)
	if at < 0 {
		t.Fatal("the metadata text is not in the image in one piece")
	}
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{b[at+len(text)/2] ^ 0x20}, int64(at+len(text)/2)); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptMetadata damages the metadata of one PV, then of both: the
// VG is read from the good copy with a warning, then not at all, with an
// error that names the checksum.
func TestCorruptMetadata(t *testing.T) {
	imgs, _, want := twoPVs(t)
	corrupt(t, imgs[0])
	vgs, err := lvm.Scan(openImages(t, imgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(vgs) != 1 || len(vgs[0].Warnings) != 1 || !strings.Contains(vgs[0].Warnings[0], "metadata checksum") {
		t.Fatalf("VGs %v, want tvg with a warning about pv0's checksum", vgs)
	}
	d, err := lvm.Find(vgs, "tvg/lin").Open()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4096)
	if _, err := d.ReadAt(got, 70<<20); err != nil || !bytes.Equal(got, want["lin"][70<<20:70<<20+4096]) {
		t.Errorf("lin at 70 MiB: %v, or bytes differ", err)
	}

	corrupt(t, imgs[1])
	vgs, err = lvm.Scan(openImages(t, imgs...)...)
	if len(vgs) != 0 || err == nil || !strings.Contains(err.Error(), "metadata checksum") {
		t.Errorf("both copies damaged: VGs %v, error %v; want none and a checksum error", vgs, err)
	}
}

// TestWrappedMetadata reads metadata that wraps around the end of the
// metadata area's circular buffer.
func TestWrappedMetadata(t *testing.T) {
	const mda = 4096
	pv := memPV(32<<20, examplePVUUID, mda, mda-700, exampleText)
	vgs, err := lvm.Scan(pv)
	if err != nil {
		t.Fatal(err)
	}
	if lv := lvm.Find(vgs, "vg0/root"); lv == nil || lv.Size != 8<<20 {
		t.Errorf("vg0/root: %v", lv)
	}
}

// TestSnapshot: LVM names an old-style snapshot after its COW store, a
// plain LV of changed chunks, and keeps a hidden LV of type snapshot that
// ties origin and store; the snapshot is refused, its origin opens
// read-only.
func TestSnapshot(t *testing.T) {
	text := strings.Replace(exampleText, "pool {", `snap {
id = "snapsn-apsn-apsn-apsn-apsn-apsn-apsnap"
status = ["READ", "WRITE", "VISIBLE"]
segment1 {
start_extent = 0
extent_count = 1
type = "striped"
stripe_count = 1
stripes = ["pv0", 4]
}
}
snapshot0 {
id = "snapsh-ot0s-naps-hot0-snap-shot-0snaps"
status = ["READ"]
segment1 {
start_extent = 0
extent_count = 2
type = "snapshot"
chunk_size = 8
origin = "root"
cow_store = "snap"
}
}
pool {`, 1)
	vgs, err := lvm.Scan(memPV(32<<20, examplePVUUID, 1<<20, 512, text))
	if err != nil {
		t.Fatal(err)
	}
	root, err := lvm.Find(vgs, "vg0/root").Open()
	if err != nil || !disk.IsReadOnly(root) {
		t.Errorf("origin: %v, read-only %v; want it open read-only", err, err == nil && disk.IsReadOnly(root))
	}
	if _, err := lvm.Find(vgs, "vg0/snap").Open(); !errors.Is(err, lvm.ErrUnsupported) || !strings.Contains(err.Error(), "vg0/snap is a snapshot LV (of root)") {
		t.Errorf("snapshot: %v", err)
	}
	if _, err := lvm.Find(vgs, "vg0/snapshot0").Open(); !errors.Is(err, lvm.ErrUnsupported) || !strings.Contains(err.Error(), "is a snapshot LV") {
		t.Errorf("snapshot0: %v", err)
	}
}
