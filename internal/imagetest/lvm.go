package imagetest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Volume images (LVM2, MD): the host's lvm2 tools write PV labels and VG
// metadata through loop devices (losetup; the test runs as root), with
// no device mapper: lvcreate gets -an -Zn --driverloaded n, so it only
// writes metadata. Every lvm command is confined to the test's loop
// devices (--devices), so it never sees or changes the host's volumes.

// Loops attaches each image to a loop device and returns the devices;
// they are detached when the test ends.
func Loops(t testing.TB, imgs ...string) []string {
	t.Helper()
	var loops []string
	for _, img := range imgs {
		loops = append(loops, Loop(t, img, 0, 0))
	}
	return loops
}

// Loop attaches size bytes of img from off (all of it from off if size
// is 0: a partition, an MD member's data area) to a loop device, which is
// detached when the test ends.
func Loop(t testing.TB, img string, off, size int64) string {
	t.Helper()
	args := []string{"-f", "--show", "--offset", strconv.FormatInt(off, 10)}
	if size > 0 {
		args = append(args, "--sizelimit", strconv.FormatInt(size, 10))
	}
	dev := strings.TrimSpace(Run(t, "losetup", append(args, img)...))
	t.Cleanup(func() { exec.Command(lookSbin("losetup"), "-d", dev).Run() })
	return dev
}

// LVM runs an lvm2 tool (pvcreate, vgcreate, lvcreate, …) on the loop
// devices loops and no others; lvcreate writes metadata only (no
// activation, no zeroing, no device mapper).
func LVM(t testing.TB, loops []string, tool string, args ...string) string {
	t.Helper()
	all := []string{"--devices", strings.Join(loops, ",")}
	if tool == "lvcreate" {
		all = append(all, "-an", "-Zn", "--driverloaded", "n")
	}
	return Run(t, tool, append(all, args...)...)
}

// A Seg is one segment of an LV as lvs reports it.
type Seg struct {
	LV, VG      string
	Type        string  // linear, striped, thin-pool, …
	Stripes     int     // stripe count
	StripeSize  int64   // bytes
	Start, Size int64   // bytes within the LV
	PEs         []PERun // where its extents are, in stripe order
}

// A PERun is a run of physical extents on one PV: Dev is the loop
// device, First and Last the extent numbers.
type PERun struct {
	Dev         string
	First, Last int64
}

// LVSegs reports the segments of the LVs of vg on loops with lvs --reportformat json.
func LVSegs(t testing.TB, loops []string, vg string) []Seg {
	t.Helper()
	out := LVM(t, loops, "lvs", "-a", "--reportformat", "json", "--units", "b", "--nosuffix",
		"-o", "lv_name,vg_name,segtype,stripes,stripe_size,seg_start,seg_size,seg_pe_ranges", vg)
	var rep struct {
		Report []struct {
			LV []map[string]string `json:"lv"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(jsonPart(out)), &rep); err != nil {
		t.Fatalf("lvs: %v\n%s", err, out)
	}
	var segs []Seg
	for _, r := range rep.Report {
		for _, m := range r.LV {
			s := Seg{LV: strings.Trim(m["lv_name"], "[]"), VG: m["vg_name"], Type: m["segtype"]}
			s.Stripes, _ = strconv.Atoi(m["stripes"])
			s.StripeSize, _ = strconv.ParseInt(m["stripe_size"], 10, 64)
			s.Start, _ = strconv.ParseInt(m["seg_start"], 10, 64)
			s.Size, _ = strconv.ParseInt(m["seg_size"], 10, 64)
			for _, r := range strings.Fields(m["seg_pe_ranges"]) {
				dev, rng, _ := strings.Cut(r, ":")
				a, b, _ := strings.Cut(rng, "-")
				first, _ := strconv.ParseInt(a, 10, 64)
				last, _ := strconv.ParseInt(b, 10, 64)
				s.PEs = append(s.PEs, PERun{dev, first, last})
			}
			segs = append(segs, s)
		}
	}
	return segs
}

// A PVInfo is a PV as pvs reports it.
type PVInfo struct {
	Dev, VG, UUID    string
	PEStart, ExtSize int64 // bytes
}

// PVs reports the PVs on loops with pvs --reportformat json.
func PVs(t testing.TB, loops []string) []PVInfo {
	t.Helper()
	out := LVM(t, loops, "pvs", "--reportformat", "json", "--units", "b", "--nosuffix",
		"-o", "pv_name,vg_name,pv_uuid,pe_start,vg_extent_size")
	var rep struct {
		Report []struct {
			PV []map[string]string `json:"pv"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(jsonPart(out)), &rep); err != nil {
		t.Fatalf("pvs: %v\n%s", err, out)
	}
	var pvs []PVInfo
	for _, r := range rep.Report {
		for _, m := range r.PV {
			p := PVInfo{Dev: m["pv_name"], VG: m["vg_name"], UUID: m["pv_uuid"]}
			p.PEStart, _ = strconv.ParseInt(m["pe_start"], 10, 64)
			p.ExtSize, _ = strconv.ParseInt(m["vg_extent_size"], 10, 64)
			pvs = append(pvs, p)
		}
	}
	return pvs
}

// jsonPart cuts lvm's warnings (printed on the same output) from around
// its JSON report.
func jsonPart(out string) string {
	i, j := strings.Index(out, "{"), strings.LastIndex(out, "}")
	if i < 0 || j < i {
		return out
	}
	return out[i : j+1]
}

// Blank makes an empty (sparse) image file of size bytes in dir.
func Blank(t testing.TB, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	must(t, f.Truncate(size))
	must(t, f.Close())
	return path
}

// CopyRange copies n bytes of the file src from srcOff into the file dst
// at dstOff, keeping holes sparse (a file system image into the extents
// of an LV).
func CopyRange(t testing.TB, src string, srcOff, n int64, dst string, dstOff int64) {
	t.Helper()
	copyRange(t, src, srcOff, n, dst, dstOff)
}

// ThinPool adds a thin pool "pool" (8 MiB) and a thin LV "thin" (16 MiB)
// to the VG vg on loops. lvcreate cannot make a thin pool without the
// device mapper (it formats the pool's metadata through it), so the
// pool's data and metadata LVs are made linear, and vgcfgrestore --force
// writes back the VG's metadata (from vgcfgbackup) with the pool and thin
// LVs added: lvm2 itself checks and writes the result.
func ThinPool(t testing.TB, loops []string, vg string) {
	t.Helper()
	LVM(t, loops, "lvcreate", "-L", "8M", "-n", "td", vg)
	LVM(t, loops, "lvcreate", "-L", "4M", "-n", "tm", vg)
	file := filepath.Join(t.TempDir(), vg+".vg")
	LVM(t, loops, "vgcfgbackup", "-f", file, vg)
	b, err := os.ReadFile(file)
	must(t, err)
	s := string(b)
	for old, new := range map[string]string{"td": "pool_tdata", "tm": "pool_tmeta"} {
		re := regexp.MustCompile(`\n(\t\t)` + old + ` \{(\n\t\t\tid = "[^"]*"\n\t\t\tstatus = \["READ", "WRITE")(, "VISIBLE")`)
		if !re.MatchString(s) {
			t.Fatalf("vgcfgbackup's file has no LV %s in the expected form:\n%s", old, s)
		}
		s = re.ReplaceAllString(s, "\n${1}"+new+" {$2")
	}
	lv := func(name, uuid, seg string) string {
		return "\n\t\t" + name + " {\n\t\t\tid = \"" + uuid + "\"\n\t\t\tstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n\t\t\tflags = []\n\t\t\tsegment_count = 1\n\t\t\tsegment1 {\n\t\t\t\tstart_extent = 0\n" + seg + "\t\t\t}\n\t\t}\n"
	}
	pool := lv("pool", "PoolPo-olPo-olPo-olPo-olPo-olPo-olPool", "\t\t\t\textent_count = 2\n\t\t\t\ttype = \"thin-pool\"\n\t\t\t\tmetadata = \"pool_tmeta\"\n\t\t\t\tpool = \"pool_tdata\"\n\t\t\t\ttransaction_id = 1\n\t\t\t\tchunk_size = 128\n\t\t\t\tdiscards = \"passdown\"\n\t\t\t\tzero_new_blocks = 1\n")
	thin := lv("thin", "ThinTh-inTh-inTh-inTh-inTh-inTh-inThin", "\t\t\t\textent_count = 4\n\t\t\t\ttype = \"thin\"\n\t\t\t\tthin_pool = \"pool\"\n\t\t\t\ttransaction_id = 0\n\t\t\t\tdevice_id = 1\n")
	end := strings.LastIndex(s, "\t}\n\n}")
	if end < 0 {
		t.Fatalf("vgcfgbackup's file does not end as expected:\n%s", s)
	}
	s = s[:end] + pool + thin + s[end:]
	must(t, os.WriteFile(file, []byte(s), 0o644))
	LVM(t, loops, "vgcfgrestore", "--force", "-f", file, vg)
}

// FillLV writes the file src into the extents of the LV vg/lv, as lvs and
// pvs report them (linear and striped segments), through the loop
// devices (and so into their images). It is how a test puts a file
// system into an LV without the device mapper.
func FillLV(t testing.TB, loops []string, vg, lv, src string) {
	t.Helper()
	pvs := map[string]PVInfo{}
	for _, p := range PVs(t, loops) {
		pvs[p.Dev] = p
	}
	fi, err := os.Stat(src)
	must(t, err)
	for _, s := range LVSegs(t, loops, vg) {
		if s.LV != lv || s.Start >= fi.Size() {
			continue
		}
		if s.Type != "linear" && s.Type != "striped" {
			t.Fatalf("FillLV: %s/%s has a %s segment", vg, lv, s.Type)
		}
		n := int64(len(s.PEs))
		chunk := s.Size / n // linear: the whole segment
		if n > 1 {
			chunk = s.StripeSize
		}
		for k := int64(0); k*chunk < s.Size && s.Start+k*chunk < fi.Size(); k++ {
			r := s.PEs[k%n]
			p := pvs[r.Dev]
			at := p.PEStart + r.First*p.ExtSize + (k/n)*chunk
			CopyRange(t, src, s.Start+k*chunk, min(chunk, fi.Size()-s.Start-k*chunk), r.Dev, at)
		}
	}
}

// LVMDisk makes the common server layout: a GPT disk image whose
// partition 3 ("Linux LVM") is the one PV of the VG vg, which has an LV
// root of 40 MiB holding an ext4 file system with tree (partitions 1 and
// 2 are a small EFI System and a Linux filesystem partition, empty). It
// returns the image.
func LVMDisk(t testing.TB, tree Tree) string {
	t.Helper()
	fs := Build(t, "ext4", tree)
	dir := filepath.Dir(fs)
	img := Blank(t, filepath.Join(dir, "lvm-disk.img"), 100<<20)
	RunInput(t, `label: gpt
start=1MiB, size=1MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
start=2MiB, size=2MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
start=4MiB, size=90MiB, type=E6D6D379-F507-44C2-A23C-238F2A3DF928
`, "sfdisk", "-q", img)
	loops := []string{Loop(t, img, 4<<20, 90<<20)}
	LVM(t, loops, "pvcreate", loops...)
	LVM(t, loops, "vgcreate", "vg", loops[0])
	LVM(t, loops, "lvcreate", "-n", "root", "-L", "40M", "vg")
	FillLV(t, loops, "vg", "root", fs)
	return img
}
