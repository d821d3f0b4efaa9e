package part_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/part"
	"github.com/gokernel/gokernel/internal/imagetest"
)

// sfdiskImage makes a 64 MiB image partitioned by sfdisk with script.
func sfdiskImage(t testing.TB, script string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	imagetest.RunInput(t, script, "sfdisk", "-q", img)
	return img
}

// sfdiskJSON is sfdisk --json's view of a table.
type sfdiskJSON struct {
	Table struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    int64  `json:"start"`
			Size     int64  `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Bootable bool   `json:"bootable"`
			Attrs    string `json:"attrs"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func openImage(t testing.TB, img string) disk.Device {
	t.Helper()
	f, err := disk.OpenFile(img, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// check compares Read's table with sfdisk --json's.
func check(t *testing.T, img string, tab *part.Table) {
	t.Helper()
	var want sfdiskJSON
	if err := json.Unmarshal([]byte(imagetest.Run(t, "sfdisk", "--json", img)), &want); err != nil {
		t.Fatal(err)
	}
	kind := map[string]string{"dos": "mbr", "gpt": "gpt"}[want.Table.Label]
	if tab.Kind != kind || !strings.EqualFold(tab.DiskID, want.Table.ID) || tab.SectorSize != want.Table.SectorSize {
		t.Errorf("table %s %s %d, sfdisk says %s %s %d", tab.Kind, tab.DiskID, tab.SectorSize, kind, want.Table.ID, want.Table.SectorSize)
	}
	if len(tab.Partitions) != len(want.Table.Partitions) {
		t.Fatalf("%d partitions, sfdisk lists %d: %+v", len(tab.Partitions), len(want.Table.Partitions), tab.Partitions)
	}
	for i, w := range want.Table.Partitions {
		p := tab.Partitions[i]
		num, _ := strconv.Atoi(strings.TrimPrefix(w.Node, img))
		typ := w.Type
		if kind == "mbr" {
			typ = "0x" + typ
		}
		if p.Number != num || p.Start != w.Start*512 || p.Size != w.Size*512 || p.Type != typ ||
			p.Name != w.Name || kind == "gpt" && p.UUID != w.UUID ||
			p.Bootable != (w.Bootable || strings.Contains(w.Attrs, "LegacyBIOSBootable")) {
			t.Errorf("partition %d: %+v, sfdisk says %+v", i, p, w)
		}
	}
	if len(tab.Warnings) != 0 {
		t.Errorf("warnings on a good table: %q", tab.Warnings)
	}
}

const (
	gptScript = `label: gpt
start=1MiB, size=1MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System"
start=2MiB, size=8MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="boot", attrs="LegacyBIOSBootable"
start=10MiB, size=40MiB, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name="lvm \u00e9t\u00e9"
`
	mbrScript = `label: dos
start=1MiB, size=4MiB, type=83, bootable
start=5MiB, size=40MiB, type=5
start=6MiB, size=4MiB, type=8e
start=11MiB, size=4MiB, type=fd
start=16MiB, size=4MiB, type=83
start=50MiB, size=4MiB, type=82
`
)

func TestSfdisk(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		names        []string // TypeName of each partition
	}{
		{"gpt", gptScript, []string{"EFI System", "Linux filesystem", "Linux LVM"}},
		{"mbr", mbrScript, []string{"Linux", "Extended", "Linux swap / Solaris", "Linux LVM", "Linux raid autodetect", "Linux"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := sfdiskImage(t, tc.script)
			tab, err := part.Read(openImage(t, img))
			if err != nil {
				t.Fatal(err)
			}
			check(t, img, tab)
			for i, p := range tab.Partitions {
				if p.TypeName != tc.names[i] {
					t.Errorf("partition %d: type name %q, want %q", p.Number, p.TypeName, tc.names[i])
				}
			}
		})
	}
}

// TestDevice reads a partition's bytes through Partition.Device.
func TestDevice(t *testing.T) {
	img := sfdiskImage(t, mbrScript)
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Mark the first and last bytes of partition 6 (logical, at 11 MiB).
	f.WriteAt([]byte("first"), 11<<20)
	f.WriteAt([]byte("last!"), 15<<20-5)
	f.Close()
	d := openImage(t, img)
	tab, err := part.Read(d)
	if err != nil {
		t.Fatal(err)
	}
	var p6 *part.Partition
	for i := range tab.Partitions {
		if tab.Partitions[i].Number == 6 {
			p6 = &tab.Partitions[i]
		}
	}
	if p6 == nil {
		t.Fatalf("no partition 6 in %+v", tab.Partitions)
	}
	dev := p6.Device(d)
	buf := make([]byte, 5)
	if _, err := dev.ReadAt(buf, 0); err != nil || string(buf) != "first" {
		t.Errorf("first bytes %q, %v", buf, err)
	}
	if _, err := dev.ReadAt(buf, dev.Size()-5); err != nil || string(buf) != "last!" {
		t.Errorf("last bytes %q, %v", buf, err)
	}
	if n, err := dev.ReadAt(buf, dev.Size()-2); n != 2 || err == nil {
		t.Errorf("read past the end: %d, %v; want 2 bytes and io.EOF", n, err)
	}
	if !disk.IsReadOnly(dev) {
		t.Error("a partition of a read-only disk is writable")
	}
}

// TestGPTBackup damages the primary GPT header, then its entries: the
// backup is used, with a warning.
func TestGPTBackup(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int64
	}{
		{"header", 512 + 24},        // my LBA, under the header CRC
		{"entries", 1024 + 128 + 1}, // the second entry, under the entries CRC
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := sfdiskImage(t, gptScript)
			want, err := part.Read(openImage(t, img))
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(img, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{0x5a}, tc.off)
			f.Close()
			got, err := part.Read(openImage(t, img))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "backup header was used") {
				t.Errorf("warnings %q, want one saying the backup was used", got.Warnings)
			}
			if len(got.Partitions) != len(want.Partitions) || got.Partitions[2] != want.Partitions[2] {
				t.Errorf("backup's partitions %+v, primary's %+v", got.Partitions, want.Partitions)
			}
		})
	}
}

// TestBothGPTHeadersBad is a clear error naming the field.
func TestBothGPTHeadersBad(t *testing.T) {
	img := sfdiskImage(t, gptScript)
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0x5a}, 512+24)
	f.WriteAt([]byte{0x5a}, 64<<20-512+24)
	f.Close()
	_, err = part.Read(openImage(t, img))
	var pe *part.Error
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "header CRC32") || !strings.Contains(err.Error(), "backup header") {
		t.Errorf("err = %v, want a *part.Error naming the header CRC32 and the backup", err)
	}
}

func TestNoTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
	}{{"empty", 0}, {"small", 100}, {"zeroes", 1 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			d := disk.NewMemory(tc.size)
			if _, err := part.Read(d); !errors.Is(err, part.ErrNoTable) {
				t.Errorf("err = %v, want ErrNoTable", err)
			}
		})
	}
}
