package fsprobe_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/fsprobe"
	"github.com/gokernel/gokernel/internal/imagetest"
)

// probeFile probes an image file.
func probeFile(t *testing.T, path string) (*fsprobe.Result, error) {
	t.Helper()
	f, err := disk.OpenFile(path, true)
	require.NoError(t, err)
	defer f.Close()
	return fsprobe.Probe(f)
}

// TestProbeMatchesBlkid makes an empty image of every kind and checks
// what Probe finds against blkid's low-level probe of the same file.
func TestProbeMatchesBlkid(t *testing.T) {
	for _, kind := range imagetest.EmptyKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			img := imagetest.Empty(t, kind)
			r, err := probeFile(t, img)
			require.NoError(t, err)
			want := imagetest.Blkid(t, img, 0)
			assert.Equal(t, want["TYPE"], r.Type, "TYPE")
			assert.Equal(t, want["USAGE"], r.Usage, "USAGE")
			assert.Equal(t, want["UUID"], r.UUID, "UUID")
			if kind != "ntfs" { // ntfs's label is in the MFT, which Probe does not read
				assert.Equal(t, want["LABEL"], r.Label, "LABEL")
			}
			if v, ok := want["VERSION"]; ok {
				assert.Equal(t, v, r.Version, "VERSION")
			}
			if r.Usage == fsprobe.UsageFilesystem && kind != "squashfs" {
				assert.Positive(t, r.Size)
				fi, err := os.Stat(img)
				require.NoError(t, err)
				assert.LessOrEqual(t, r.Size, fi.Size())
			}
		})
	}
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		args    []string
		verdict fsprobe.Verdict
		missing []string
		fix     string
	}{
		{"xfs defaults", "xfs", nil, fsprobe.NotMountable, []string{"bigtime", "inobtcount"}, "mkfs.xfs -m bigtime=0,inobtcount=0"},
		{"xfs without bigtime", "xfs", []string{"-m", "bigtime=0"}, fsprobe.ReadOnly, []string{"inobtcount"}, "mkfs.xfs -m inobtcount=0"},
		{"xfs for 4.9", "xfs", []string{"-m", "bigtime=0,inobtcount=0"}, fsprobe.Mountable, nil, ""},
		{"ext4 defaults", "ext4", nil, fsprobe.Mountable, nil, ""},
		{"ext4 verity", "ext4", []string{"-O", "verity"}, fsprobe.ReadOnly, []string{"verity"}, "mke2fs -t ext4 -O ^verity"},
		{"ext4 large_dir", "ext4", []string{"-O", "large_dir,verity"}, fsprobe.NotMountable, []string{"large_dir", "verity"}, "mke2fs -t ext4 -O ^large_dir,^verity"},
		{"ext4 orphan_file", "ext4", []string{"-O", "orphan_file"}, fsprobe.Mountable, nil, ""},
		{"btrfs defaults", "btrfs", nil, fsprobe.Mountable, nil, ""},
		{"btrfs xxhash", "btrfs", []string{"--csum", "xxhash"}, fsprobe.NotMountable, nil, ""},
		{"vfat", "vfat", nil, fsprobe.Mountable, nil, ""},
		{"squashfs", "squashfs", nil, fsprobe.NotInBuild, nil, ""},
		{"iso9660", "iso9660", nil, fsprobe.NotInBuild, nil, ""},
		{"f2fs", "f2fs", nil, fsprobe.NotInBuild, nil, ""},
		{"exfat", "exfat", nil, fsprobe.NotInBuild, nil, ""},
		{"ntfs", "ntfs", nil, fsprobe.NotInBuild, nil, ""},
		{"luks2", "luks2", nil, fsprobe.NotFilesystem, nil, ""},
		{"swap", "swap", nil, fsprobe.NotFilesystem, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := probeFile(t, imagetest.Empty(t, tc.kind, tc.args...))
			require.NoError(t, err)
			c := r.Check
			assert.Equal(t, tc.verdict, c.Verdict, "%+v", c)
			assert.Equal(t, tc.missing, c.Missing)
			assert.Equal(t, tc.fix, c.Fix)
			if tc.verdict != fsprobe.Mountable {
				assert.NotEmpty(t, c.Reason)
			}
		})
	}
}

// TestFeaturesMatchDumpe2fs checks the ext feature names against
// dumpe2fs's list for the same image.
func TestFeaturesMatchDumpe2fs(t *testing.T) {
	img := imagetest.Empty(t, "ext4", "-O", "verity,large_dir,orphan_file,metadata_csum_seed")
	r, err := probeFile(t, img)
	require.NoError(t, err)
	out, err := exec.Command("dumpe2fs", "-h", img).Output()
	require.NoError(t, err)
	var want []string
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(line, "Filesystem features:"); ok {
			want = strings.Fields(v)
		}
	}
	var got []string
	for _, f := range r.Features {
		got = append(got, f.Name)
	}
	assert.ElementsMatch(t, want, got)
}

func TestPartitionTable(t *testing.T) {
	for _, table := range []string{"mbr", "gpt"} {
		t.Run(table, func(t *testing.T) {
			img := imagetest.Disk(t, table, imagetest.Part{}, imagetest.Part{})
			r, err := probeFile(t, img)
			require.NoError(t, err)
			assert.Equal(t, imagetest.Blkid(t, img, 0)["PTTYPE"], r.PartitionTable)
			assert.Equal(t, "", r.Type)
			assert.Equal(t, fsprobe.NotFilesystem, r.Check.Verdict)
		})
	}
}

func TestUnknownAndErrors(t *testing.T) {
	_, err := fsprobe.Probe(disk.NewMemory(1 << 20))
	assert.ErrorIs(t, err, fsprobe.ErrUnknown)
	_, err = fsprobe.Probe(disk.NewMemory(0))
	assert.ErrorIs(t, err, fsprobe.ErrUnknown)

	boom := errors.New("boom")
	_, err = fsprobe.Probe(failing{disk.NewMemory(1 << 20), boom})
	var pe *fsprobe.Error
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, boom)
}

// failing is a device whose reads fail.
type failing struct {
	disk.Device
	err error
}

func (f failing) ReadAt([]byte, int64) (int, error) { return 0, f.err }

// MD members (written from md_p.h's layout by imagetest: the container
// has no md driver for mdadm --create) and an LVM PV (pvcreate on a loop
// device), checked against blkid -p.
func TestVolumeMembersMatchBlkid(t *testing.T) {
	for _, v := range []string{"1.2", "1.1", "1.0", "0.90"} {
		t.Run("md"+v, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "member.img")
			require.NoError(t, os.WriteFile(img, nil, 0o644))
			require.NoError(t, os.Truncate(img, 8<<20))
			sb := imagetest.MDSuperblock{Version: v, Name: "host:gk", Level: 1, RaidDisks: 2, Role: 0, Events: 1, DataSize: 4 << 20}
			copy(sb.UUID[:], "0123456789abcdef")
			if v == "1.2" || v == "1.1" {
				sb.DataOffset = 1 << 20
			}
			imagetest.WriteMDSuperblock(t, img, sb)
			r, err := probeFile(t, img)
			require.NoError(t, err)
			want := imagetest.Blkid(t, img, 0)
			assert.Equal(t, want["TYPE"], r.Type)
			assert.Equal(t, want["UUID"], r.UUID)
			assert.Equal(t, want["LABEL"], r.Label)
			assert.Equal(t, want["VERSION"], r.Version)
			assert.Equal(t, fsprobe.NotFilesystem, r.Check.Verdict)
		})
	}
	t.Run("lvm", func(t *testing.T) {
		img := filepath.Join(t.TempDir(), "pv.img")
		require.NoError(t, os.WriteFile(img, nil, 0o644))
		require.NoError(t, os.Truncate(img, 16<<20))
		loops := []string{imagetest.Loop(t, img, 0, 0)}
		imagetest.LVM(t, loops, "pvcreate", loops...)
		r, err := probeFile(t, img)
		require.NoError(t, err)
		want := imagetest.Blkid(t, img, 0)
		assert.Equal(t, want["TYPE"], r.Type)
		assert.Equal(t, want["UUID"], r.UUID)
		assert.Equal(t, want["VERSION"], r.Version)
		assert.Equal(t, int64(16<<20), r.Size)
	})
}

// TestProbeLayout: a GPT disk with an EFI system partition (vfat) and an
// ext4 partition, as an installer makes it.
func TestProbeLayout(t *testing.T) {
	img := imagetest.Disk(t, "gpt",
		imagetest.Part{Type: "U", Image: imagetest.Empty(t, "vfat")},
		imagetest.Part{Image: imagetest.Empty(t, "ext4")},
		imagetest.Part{})
	f, err := disk.OpenFile(img, true)
	require.NoError(t, err)
	defer f.Close()
	l, err := fsprobe.ProbeLayout(f)
	require.NoError(t, err)
	require.NotNil(t, l.Whole)
	assert.Equal(t, "gpt", l.Whole.PartitionTable)
	require.NotNil(t, l.Table)
	require.Len(t, l.Partitions, 3)
	assert.Equal(t, "EFI System", l.Partitions[0].TypeName)
	require.NotNil(t, l.Partitions[0].Content)
	assert.Equal(t, "vfat", l.Partitions[0].Content.Type)
	assert.Equal(t, "GK-VFAT", l.Partitions[0].Content.Label)
	require.NotNil(t, l.Partitions[1].Content)
	assert.Equal(t, "ext4", l.Partitions[1].Content.Type)
	assert.Equal(t, fsprobe.Mountable, l.Partitions[1].Content.Check.Verdict)
	assert.ErrorIs(t, l.Partitions[2].Err, fsprobe.ErrUnknown)

	// A file system on the whole disk has no table looked for.
	f2, err := disk.OpenFile(imagetest.Empty(t, "vfat"), true)
	require.NoError(t, err)
	defer f2.Close()
	l, err = fsprobe.ProbeLayout(f2)
	require.NoError(t, err)
	assert.Equal(t, "vfat", l.Whole.Type)
	assert.Nil(t, l.Table)
}
