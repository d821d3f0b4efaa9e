package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
)

// infoJSON runs demo info --json on img.
func infoJSON(t *testing.T, args ...string) Info {
	t.Helper()
	stdout, stderr, code := demo(t, nil, append([]string{"info", "--json"}, args...)...)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	var info Info
	require.NoError(t, json.Unmarshal([]byte(stdout), &info), stdout)
	return info
}

// The GPT disk of an installer, checked against sfdisk --json for the
// table and blkid -p for each partition's file system.
func TestInfoPartitionedDisk(t *testing.T) {
	img := imagetest.Disk(t, "gpt",
		imagetest.Part{Type: "U", Image: imagetest.Empty(t, "vfat")},
		imagetest.Part{Image: imagetest.Empty(t, "ext4")},
		imagetest.Part{Image: imagetest.Empty(t, "xfs")})
	info := infoJSON(t, img)

	var sf struct {
		PartitionTable struct {
			Label      string `json:"label"`
			ID         string `json:"id"`
			SectorSize int    `json:"sectorsize"`
			Partitions []struct {
				Start, Size int64
				Type, UUID  string
				Name        string
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	require.NoError(t, json.Unmarshal([]byte(imagetest.Run(t, "sfdisk", "--json", img)), &sf))
	pt := info.PartitionTable
	require.NotNil(t, pt)
	assert.Equal(t, sf.PartitionTable.Label, pt.Kind)
	assert.Equal(t, sf.PartitionTable.ID, pt.DiskID)
	require.Len(t, pt.Partitions, len(sf.PartitionTable.Partitions))
	ss := int64(sf.PartitionTable.SectorSize)
	for i, want := range sf.PartitionTable.Partitions {
		p := pt.Partitions[i]
		assert.Equal(t, want.Start*ss, p.Start)
		assert.Equal(t, want.Size*ss, p.Size)
		assert.Equal(t, want.Type, p.Type)
		assert.Equal(t, want.UUID, p.UUID)
		b := imagetest.Blkid(t, img, p.Start)
		require.NotNil(t, p.Content, "partition %d", p.Number)
		assert.Equal(t, b["TYPE"], p.Content.Type)
		assert.Equal(t, b["LABEL"], p.Content.Label)
		assert.Equal(t, b["UUID"], p.Content.UUID)
	}
	assert.Equal(t, "mountable", string(pt.Partitions[1].Content.Check.Verdict))
	assert.Equal(t, "not-mountable", string(pt.Partitions[2].Content.Check.Verdict))

	// The text form: a row per partition, the xfs partition's fix.
	stdout, _, code := demo(t, nil, "info", img)
	require.Equal(t, 0, code)
	for _, want := range []string{"partition table: gpt", "EFI System", "GK-VFAT", "gk-ext4", "partition 3: xfs", "fix: mkfs.xfs -m bigtime=0,inobtcount=0"} {
		assert.Contains(t, stdout, want)
	}
}

// A qcow2 image with a backing file, checked against qemu-img info.
func TestInfoQCOW2(t *testing.T) {
	base := imagetest.Empty(t, "ext4")
	img := filepath.Join(t.TempDir(), "over.qcow2")
	imagetest.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, img)
	var q struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
		Backing     string `json:"backing-filename"`
		Specific    struct {
			Data struct {
				Compat string `json:"compat"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	require.NoError(t, json.Unmarshal([]byte(imagetest.Run(t, "qemu-img", "info", "--output=json", img)), &q))
	info := infoJSON(t, img)
	assert.Equal(t, q.Format, info.Format)
	assert.Equal(t, q.VirtualSize, info.VirtualSize)
	assert.Equal(t, q.Backing, info.BackingFile)
	assert.Equal(t, q.Specific.Data.Compat, info.FormatVersion)
	require.NotNil(t, info.Content, "the file system seen through the qcow2 and its backing file")
	b := imagetest.Blkid(t, base, 0)
	assert.Equal(t, b["UUID"], info.Content.UUID)
	assert.Equal(t, "ext4", info.Content.Type)
}

// Every kind imagetest makes, as blkid -p sees it, whole-disk.
func TestInfoKinds(t *testing.T) {
	for _, kind := range imagetest.EmptyKinds {
		t.Run(kind, func(t *testing.T) {
			img := imagetest.Empty(t, kind)
			info := infoJSON(t, img)
			b := imagetest.Blkid(t, img, 0)
			require.NotNil(t, info.Content)
			assert.Equal(t, b["TYPE"], info.Content.Type)
			assert.Equal(t, b["UUID"], info.Content.UUID)
			assert.Equal(t, "raw", info.Format)
			assert.Nil(t, info.PartitionTable)
		})
	}
}

func TestInfoErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no image", []string{"info"}, 2, "info takes one image"},
		{"missing file", []string{"info", filepath.Join(dir, "nope.img")}, 1, "nope.img: no such file"},
		{"bad format", []string{"info", "--format", "vmdk", filepath.Join(dir, "nope.img")}, 1, `"vmdk" is not a format`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := demo(t, nil, tc.args...)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, stderr, tc.stderr)
		})
	}
	// An image of zeroes holds nothing, which is not an error.
	zero := imagetest.Disk(t, "gpt")
	stdout, _, code := demo(t, nil, "info", zero)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "partition table: gpt")
}

// An image behind an HTTP URL (on loopback), read with Range requests.
func TestInfoURL(t *testing.T) {
	img := imagetest.Empty(t, "btrfs")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, img)
	}))
	defer srv.Close()
	info := infoJSON(t, srv.URL+"/btrfs.img")
	require.NotNil(t, info.Content)
	assert.Equal(t, imagetest.Blkid(t, img, 0)["UUID"], info.Content.UUID)
	assert.Equal(t, "btrfs", info.Content.Type)
	assert.Equal(t, "raw", info.Format)
}

// The common server layout, GPT → partition 3 → LVM PV → vg/root →
// ext4: the LV checked against lvs on the same image, its file system
// against blkid.
func TestInfoVolumes(t *testing.T) {
	img := imagetest.LVMDisk(t, imagetest.Tree{"hello.txt": "hello\n"})
	info := infoJSON(t, img)
	require.NotNil(t, info.PartitionTable)
	require.Len(t, info.PartitionTable.Partitions, 3)
	p3 := info.PartitionTable.Partitions[2]
	require.NotNil(t, p3.Content)
	assert.Equal(t, "LVM2_member", p3.Content.Type)

	loops := []string{imagetest.Loop(t, img, p3.Start, p3.Size)}
	assert.Equal(t, imagetest.Blkid(t, img, p3.Start)["UUID"], p3.Content.UUID, "the PV's UUID")
	var lvs struct {
		Report []struct {
			LV []struct {
				Name string `json:"lv_name"`
				VG   string `json:"vg_name"`
				Size string `json:"lv_size"`
				UUID string `json:"lv_uuid"`
				Type string `json:"segtype"`
			} `json:"lv"`
		} `json:"report"`
	}
	out := imagetest.LVM(t, loops, "lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "lv_name,vg_name,lv_size,lv_uuid,segtype")
	require.NoError(t, json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &lvs), out)
	require.Len(t, lvs.Report, 1)
	require.Len(t, info.Volumes, len(lvs.Report[0].LV))
	for i, want := range lvs.Report[0].LV {
		v := info.Volumes[i]
		assert.Equal(t, "lvm", v.Kind)
		assert.Equal(t, want.VG+"/"+want.Name, v.Name)
		assert.Equal(t, want.Size, fmt.Sprint(v.Size))
		assert.Equal(t, want.UUID, v.UUID)
		assert.Equal(t, want.Type, v.Type)
		assert.Empty(t, v.Error)
	}
	root := info.Volumes[0]
	require.NotNil(t, root.Content)
	assert.Equal(t, "ext4", root.Content.Type)
	assert.Equal(t, "mountable", string(root.Content.Check.Verdict))

	stdout, _, code := demo(t, nil, "info", img)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "vg/root")
	assert.Contains(t, stdout, "volume vg/root: ext4")
}
