package volume_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/volume"
	"github.com/gokernel/gokernel/internal/imagetest"
)

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

var tree = imagetest.Tree{"etc/": "", "etc/hostname": "lvm-root\n"}

// TestNested opens GPT → partition 3 → PV → vg/root by each of its names,
// and checks the LV holds the ext4 file system written into it.
func TestNested(t *testing.T) {
	img := imagetest.LVMDisk(t, tree)
	devs := openImages(t, img)
	r := volume.Scan(devs...)
	if len(r.Problems) != 0 || len(r.VGs) != 1 {
		t.Fatalf("Scan: VGs %v, problems %v", r.VGs, r.Problems)
	}
	for _, name := range []string{"vg/root", "/dev/vg/root", "/dev/mapper/vg-root"} {
		d, err := volume.Open(devs, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d.Size() != 40<<20 {
			t.Errorf("%s: %d bytes", name, d.Size())
		}
		magic := make([]byte, 2)
		if _, err := d.ReadAt(magic, 1024+56); err != nil || !bytes.Equal(magic, []byte{0x53, 0xef}) {
			t.Errorf("%s: no ext4 superblock (%x, %v)", name, magic, err)
		}
	}
}

// TestUnknownName lists the volumes there are.
func TestUnknownName(t *testing.T) {
	img := imagetest.LVMDisk(t, tree)
	_, err := volume.Open(openImages(t, img), "vg/nope")
	if err == nil || !strings.Contains(err.Error(), `no volume "vg/nope"`) || !strings.Contains(err.Error(), "vg/root (LVM linear)") {
		t.Errorf("err = %v", err)
	}
	_, err = volume.Open([]disk.Device{disk.NewMemory(1 << 20)}, "vg/root")
	if err == nil || !strings.Contains(err.Error(), "none was found") {
		t.Errorf("empty disk: %v", err)
	}
}

// TestScanAgainstLVS compares Scan with lvs on a VG across two images
// with a striped LV, a linear one spanning both, and a thin pool.
func TestScanAgainstLVS(t *testing.T) {
	dir := t.TempDir()
	imgs := []string{imagetest.Blank(t, filepath.Join(dir, "a.img"), 64<<20), imagetest.Blank(t, filepath.Join(dir, "b.img"), 64<<20)}
	loops := imagetest.Loops(t, imgs...)
	imagetest.LVM(t, loops, "pvcreate", loops...)
	imagetest.LVM(t, loops, "vgcreate", append([]string{"my-vg"}, loops...)...)
	imagetest.LVM(t, loops, "lvcreate", "-n", "str", "-i", "2", "-I", "64k", "-L", "8M", "my-vg")
	imagetest.LVM(t, loops, "lvcreate", "-n", "big-lv", "-L", "80M", "my-vg")
	imagetest.ThinPool(t, loops, "my-vg")
	r := volume.Scan(openImages(t, imgs...)...)
	if len(r.VGs) != 1 || len(r.Problems) != 0 {
		t.Fatalf("VGs %v, problems %v", r.VGs, r.Problems)
	}
	vg := r.VGs[0]
	sizes, types := map[string]int64{}, map[string]string{}
	for _, s := range imagetest.LVSegs(t, loops, "my-vg") {
		sizes[s.LV] += s.Size
		types[s.LV] = s.Type
	}
	if len(vg.LVs) != len(sizes) {
		t.Errorf("%d LVs, lvs lists %d", len(vg.LVs), len(sizes))
	}
	for _, lv := range vg.LVs {
		if lv.Size != sizes[lv.Name] || strings.Join(lv.SegTypes(), "+") != types[lv.Name] {
			t.Errorf("%s: %d bytes %v; lvs: %d %s", lv.Name, lv.Size, lv.SegTypes(), sizes[lv.Name], types[lv.Name])
		}
	}
	// The dashes doubled in the device-mapper name.
	if _, err := r.Open("/dev/mapper/my--vg-big--lv"); err != nil {
		t.Errorf("/dev/mapper/my--vg-big--lv: %v", err)
	}
	_, err := r.Open("my-vg/thin")
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "thin LV") {
		t.Errorf("thin: %v", err)
	}
	names := strings.Join(r.Names(), "; ")
	for _, want := range []string{"my-vg/thin (LVM thin), not supported", "my-vg/pool (LVM thin-pool), not supported", "my-vg/str (LVM striped)"} {
		if !strings.Contains(names, want) {
			t.Errorf("names %q lack %q", names, want)
		}
	}
	if strings.Contains(names, "tdata") {
		t.Errorf("names %q list a hidden LV", names)
	}
}

// TestLVMOnMD opens an LV whose PV is a raid1 MD array (metadata 1.2)
// of two images: the array is assembled first, then scanned for PVs,
// and its members are not taken for PVs themselves.
func TestLVMOnMD(t *testing.T) {
	dir := t.TempDir()
	const dataOff, dataSize = 1 << 20, 48 << 20
	imgs := []string{imagetest.Blank(t, filepath.Join(dir, "m0.img"), 64<<20), imagetest.Blank(t, filepath.Join(dir, "m1.img"), 64<<20)}
	for role, img := range imgs {
		imagetest.WriteMDSuperblock(t, img, imagetest.MDSuperblock{Version: "1.2", Level: 1, RaidDisks: 2, Role: role, Name: "host:0",
			UUID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Events: 5, DataOffset: dataOff, DataSize: dataSize})
	}
	loop := imagetest.Loop(t, imgs[0], dataOff, dataSize)
	imagetest.LVM(t, []string{loop}, "pvcreate", loop)
	imagetest.LVM(t, []string{loop}, "vgcreate", "mdvg", loop)
	imagetest.LVM(t, []string{loop}, "lvcreate", "-n", "data", "-L", "32M", "mdvg")
	fs := imagetest.Build(t, "ext4", tree)
	imagetest.FillLV(t, []string{loop}, "mdvg", "data", fs)
	// The mirror: the same data area on the second member.
	imagetest.CopyRange(t, imgs[0], dataOff, dataSize, imgs[1], dataOff)

	devs := openImages(t, imgs...)
	r := volume.Scan(devs...)
	if len(r.Arrays) != 1 || len(r.VGs) != 1 || len(r.Problems) != 0 {
		t.Fatalf("arrays %v, VGs %v, problems %v", r.Arrays, r.VGs, r.Problems)
	}
	if pvs := r.VGs[0].PVs; len(pvs) != 1 || pvs[0].PV == nil {
		t.Fatalf("PVs %v", pvs)
	}
	d, err := r.Open("mdvg/data")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fs)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := d.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Errorf("mdvg/data differs from the file system written into it (%v)", err)
	}
	// The array opens by its names too.
	for _, name := range []string{"md0", "/dev/md0", "/dev/md/0"} {
		if a, err := r.Open(name); err != nil || a.Size() != dataSize {
			t.Errorf("%s: %v", name, err)
		}
	}
}
