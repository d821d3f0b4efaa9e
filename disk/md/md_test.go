package md_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/md"
	"github.com/gokernel/gokernel/internal/imagetest"
)

const devSize = 16 << 20

var testUUID = [16]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00}

// members makes n images, each with the superblock of s for its role
// and random data in its data area; it returns the images and the data.
func members(t *testing.T, s sb, n int) ([]string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(s.Level+10)))
	var imgs []string
	var data [][]byte
	for i := range n {
		img := imagetest.Blank(t, filepath.Join(dir, fmt.Sprintf("m%d.img", i)), devSize)
		m := s
		m.Role = i
		imagetest.WriteMDSuperblock(t, img, m)
		b := make([]byte, s.DataSize)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		f, err := os.OpenFile(img, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b, s.DataOffset); err != nil {
			t.Fatal(err)
		}
		f.Close()
		imgs, data = append(imgs, img), append(data, b)
	}
	return imgs, data
}

func open(t *testing.T, imgs ...string) []*md.Member {
	t.Helper()
	var ms []*md.Member
	for _, img := range imgs {
		f, err := disk.OpenFile(img, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		m, err := md.ReadMember(f)
		if err != nil {
			t.Fatalf("%s: %v", img, err)
		}
		ms = append(ms, m)
	}
	return ms
}

// layout returns a superblock of each version for level with its data
// area placed as mdadm places it.
func layout(version string, level int32) sb {
	s := sb{Version: version, UUID: testUUID, Name: "host:0", Minor: 0, Level: level, Chunk: 64 << 10, RaidDisks: 2, Events: 20}
	switch {
	case version == "0.90" && level <= 0:
		// linear and raid0 use the whole device up to the superblock
		// (the kernel's super_90_load).
		s.DataSize = devSize - 64<<10
	case version == "0.90", version == "1.0":
		s.DataSize = 8 << 20
	default:
		s.DataOffset, s.DataSize = 1<<20, 8<<20
	}
	return s
}

// examine runs mdadm --examine on img and returns its "Key : value" lines.
func examine(t *testing.T, img string) map[string]string {
	t.Helper()
	out := imagetest.Run(t, "mdadm", "--examine", img)
	kv := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, " : ")
		if ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}

// TestExamine checks the superblocks the tests write, and ReadMember's
// reading of them, against mdadm --examine.
func TestExamine(t *testing.T) {
	for _, version := range []string{"0.90", "1.0", "1.1", "1.2"} {
		for _, level := range []int32{1, 0} {
			t.Run(fmt.Sprintf("%s/raid%d", version, level), func(t *testing.T) {
				imgs, _ := members(t, layout(version, level), 2)
				for i, m := range open(t, imgs...) {
					kv := examine(t, imgs[i])
					uuid := kv["Array UUID"]
					if version == "0.90" {
						uuid = kv["UUID"]
					}
					events, _ := strconv.ParseUint(kv["Events"], 10, 64)
					if !strings.HasSuffix(kv["Checksum"], "- correct") || kv["Raid Level"] != fmt.Sprintf("raid%d", level) ||
						!strings.HasPrefix(kv["Version"], version) || uuid != m.UUID || events != m.Events ||
						m.Level != int(level) || m.Role != i || !m.InSync {
						t.Errorf("member %d: %+v\nmdadm --examine: %q", i, m, kv)
					}
					if version != "0.90" {
						off := int64(0) // 1.0: mdadm prints no data offset
						if version != "1.0" {
							off, _ = strconv.ParseInt(strings.TrimSuffix(kv["Data Offset"], " sectors"), 10, 64)
						}
						if off*512 != m.DataOffset || kv["Device Role"] != fmt.Sprintf("Active device %d", i) {
							t.Errorf("member %d: data offset %d, role %d; mdadm says %q, %q", i, m.DataOffset, m.Role, kv["Data Offset"], kv["Device Role"])
						}
					}
				}
			})
		}
	}
}

// TestArrays reads every byte of raid1, raid0 and linear arrays against
// the members' data areas.
func TestArrays(t *testing.T) {
	for _, version := range []string{"0.90", "1.0", "1.2"} {
		for _, level := range []int32{1, 0, -1} {
			t.Run(fmt.Sprintf("%s/level%d", version, level), func(t *testing.T) {
				s := layout(version, level)
				imgs, data := members(t, s, 2)
				if level == 1 {
					// Mirrors hold the same bytes.
					f, _ := os.OpenFile(imgs[1], os.O_WRONLY, 0)
					f.WriteAt(data[0], s.DataOffset)
					f.Close()
				}
				arrays := md.Assemble(open(t, imgs...))
				if len(arrays) != 1 {
					t.Fatalf("%d arrays", len(arrays))
				}
				a := arrays[0]
				if md.Find(arrays, "md0") != a || md.Find(arrays, "/dev/md0") != a || md.Find(arrays, a.UUID) != a {
					t.Errorf("names %v do not find the array", a.Names())
				}
				d, err := a.Open()
				if err != nil {
					t.Fatal(err)
				}
				var want []byte
				switch level {
				case 1:
					want = data[0]
				case 0:
					for k := 0; k < 2*len(data[0])/int(s.Chunk); k++ {
						c := int(s.Chunk)
						want = append(want, data[k%2][(k/2)*c:(k/2+1)*c]...)
					}
				case -1:
					want = append(append(want, data[0]...), data[1]...)
				}
				got := make([]byte, d.Size())
				if _, err := d.ReadAt(got, 0); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("array of %d bytes differs from its members' data (%d bytes)", len(got), len(want))
				}
				if len(a.Warnings) != 0 {
					t.Errorf("warnings: %q", a.Warnings)
				}
			})
		}
	}
}

// TestDegraded: a raid1 with one of its two members opens read-only with
// a warning; raid0 and linear with one are refused.
func TestDegraded(t *testing.T) {
	s := layout("1.2", 1)
	imgs, data := members(t, s, 2)
	arrays := md.Assemble(open(t, imgs[1]))
	a := arrays[0]
	d, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	if !disk.IsReadOnly(d) || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "degraded") {
		t.Errorf("read-only %v, warnings %q", disk.IsReadOnly(d), a.Warnings)
	}
	got := make([]byte, 4096)
	if _, err := d.ReadAt(got, 4096); err != nil || !bytes.Equal(got, data[1][4096:8192]) {
		t.Errorf("read: %v", err)
	}
	s = layout("1.2", 0)
	imgs, _ = members(t, s, 2)
	if _, err := md.Assemble(open(t, imgs[0]))[0].Open(); err == nil || !strings.Contains(err.Error(), "1 of its 2 members") {
		t.Errorf("raid0 missing a member: %v", err)
	}
}

// TestStale leaves out a member whose event count is behind.
func TestStale(t *testing.T) {
	s := layout("1.2", 1)
	imgs, _ := members(t, s, 2)
	old := s
	old.Role, old.Events = 1, 10
	imagetest.WriteMDSuperblock(t, imgs[1], old)
	a := md.Assemble(open(t, imgs...))[0]
	if len(a.Stale) != 1 || a.Members[1] != nil || !a.ReadOnly() {
		t.Errorf("stale %d, members %v, read-only %v; warnings %q", len(a.Stale), a.Members, a.ReadOnly(), a.Warnings)
	}
}

// TestRefused: raid5, raid6, raid10 and raid4 are listed with their level
// and refused.
func TestRefused(t *testing.T) {
	for _, level := range []int32{4, 5, 6, 10} {
		s := layout("1.2", level)
		s.RaidDisks = 4
		imgs, _ := members(t, s, 4)
		a := md.Assemble(open(t, imgs...))[0]
		name := fmt.Sprintf("raid%d", level)
		_, err := a.Open()
		if a.Level != name || !errors.Is(err, md.ErrUnsupported) || !strings.Contains(err.Error(), "is a "+name+" array") {
			t.Errorf("%s: level %q, Open: %v", name, a.Level, err)
		}
	}
}

// TestBadChecksum is an error naming the field; an empty device has no
// superblock.
func TestBadChecksum(t *testing.T) {
	s := layout("1.2", 1)
	imgs, _ := members(t, s, 1)
	f, _ := os.OpenFile(imgs[0], os.O_WRONLY, 0)
	f.WriteAt([]byte{0x77}, 4096+100)
	f.Close()
	d, _ := disk.OpenFile(imgs[0], true)
	defer d.Close()
	if _, err := md.ReadMember(d); err == nil || !regexp.MustCompile(`sb_csum: is 0x[0-9a-f]+, the superblock gives`).MatchString(err.Error()) {
		t.Errorf("err = %v", err)
	}
	if _, err := md.ReadMember(disk.NewMemory(1 << 20)); !errors.Is(err, md.ErrNoSuperblock) {
		t.Errorf("empty device: %v", err)
	}
}

// TestUnequalRaid0 refuses a raid0 whose members differ in size.
func TestUnequalRaid0(t *testing.T) {
	s := layout("1.2", 0)
	imgs, _ := members(t, s, 2)
	small := s
	small.Role, small.DataSize = 1, 4<<20
	imagetest.WriteMDSuperblock(t, imgs[1], small)
	_, err := md.Assemble(open(t, imgs...))[0].Open()
	if !errors.Is(err, md.ErrUnsupported) || !strings.Contains(err.Error(), "differ in size") {
		t.Errorf("err = %v", err)
	}
}

// failing fails every read of its data area (past the superblocks).
type failing struct{ disk.Device }

func (f failing) ReadAt(p []byte, off int64) (int, error) {
	if off >= 1<<20 {
		return 0, errors.New("injected read error")
	}
	return f.Device.ReadAt(p, off)
}

// TestMirrorFallback reads from the other mirror when one fails.
func TestMirrorFallback(t *testing.T) {
	s := layout("1.2", 1)
	var ms []*md.Member
	for role := range 2 {
		mem := disk.NewMemory(devSize)
		m := s
		m.Role = role
		b, off := m.Bytes(devSize)
		mem.WriteAt(b, off)
		mem.WriteAt([]byte("mirror"), s.DataOffset)
		var d disk.Device = mem
		if role == 0 {
			d = failing{mem}
		}
		member, err := md.ReadMember(d)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, member)
	}
	d, err := md.Assemble(ms)[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := d.ReadAt(got, 0); err != nil || string(got) != "mirror" {
		t.Errorf("read %q, %v", got, err)
	}
}
