//go:build lkl

package lkl_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys/lkl"
)

// captureStderr runs fn with os.Stderr going to a pipe and returns what
// was written there (sys/lkl's warnings).
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	defer func() {
		os.Stderr = old
	}()
	fn()
	os.Stderr = old
	w.Close()
	b := <-done
	r.Close()
	return string(b)
}

// An image made by mkfs.xfs with xfsprogs 6.1's defaults has bigtime
// and inobtcount, which Linux 4.9 lacks: refused with what to run
// instead of the kernel's EINVAL.
func TestRefuseXFSDefaults(t *testing.T) {
	img := imagetest.Empty(t, "xfs")
	for _, ro := range []bool{false, true} {
		_, err := kern.AddDisk(lkl.Disk{Path: img, ReadOnly: ro, MountPoint: "/mnt/xfs-defaults"})
		require.Error(t, err)
		t.Log(err)
		for _, want := range []string{img + ": an xfs file system", "bigtime", "inobtcount", "Linux 5.10", "mkfs.xfs -m bigtime=0,inobtcount=0"} {
			assert.ErrorContains(t, err, want)
		}
	}
	// With them off it mounts.
	img = imagetest.Empty(t, "xfs", "-m", "bigtime=0,inobtcount=0")
	_, err := kern.AddDisk(lkl.Disk{Path: img, ReadOnly: true, MountPoint: "/mnt/xfs-49"})
	require.NoError(t, err)
	require.NoError(t, kern.Unmount("/mnt/xfs-49"))
}

// An ext4 image with verity, a read-only compatible feature of Linux
// 5.4, mounts read-only, with a warning on stderr; asked read-only, it
// mounts without one.
func TestReadOnlyCompatMountsReadOnly(t *testing.T) {
	img := imagetest.Empty(t, "ext4", "-O", "verity")
	before := sha(t, img)
	var info lkl.MountInfo
	var err error
	warn := captureStderr(t, func() {
		info, err = kern.AddDisk(lkl.Disk{Path: img, MountPoint: "/mnt/verity"})
	})
	require.NoError(t, err)
	t.Log(warn)
	assert.True(t, info.Disk.ReadOnly, "MountInfo says read-only")
	assert.Contains(t, warn, "mounting ext4 read-only")
	assert.Contains(t, warn, "verity")
	assert.Contains(t, warn, "mke2fs -t ext4 -O ^verity")
	assert.Equal(t, "hello\n", string(readFile(t, "/mnt/verity/hello")))
	p := cstr(t, "/mnt/verity/new")
	_, e := call(unix.SYS_CREAT, uintptr(unsafe.Pointer(p)), 0o644)
	assert.Equal(t, unix.EROFS, e, "a write is refused")
	require.NoError(t, kern.Unmount("/mnt/verity"))
	assert.Equal(t, before, sha(t, img), "the image is unchanged")

	warn = captureStderr(t, func() {
		_, err = kern.AddDisk(lkl.Disk{Path: img, ReadOnly: true, MountPoint: "/mnt/verity-ro"})
	})
	require.NoError(t, err)
	assert.Empty(t, warn)
	require.NoError(t, kern.Unmount("/mnt/verity-ro"))
}

// A GPT disk with an EFI system partition and an ext4 partition, opened
// whole: the error lists both and says how to pick one.
func TestPartitionedDiskListed(t *testing.T) {
	img := imagetest.Disk(t, "gpt",
		imagetest.Part{Type: "U", Image: imagetest.Empty(t, "vfat")},
		imagetest.Part{Image: imagetest.Empty(t, "ext4")})
	_, err := kern.AddDisk(lkl.Disk{Path: img, ReadOnly: true, MountPoint: "/mnt/gpt-whole"})
	require.Error(t, err)
	t.Log(err)
	for _, want := range []string{
		img + ": a GPT partition table, not a file system",
		`--partition N (config "partition": N)`,
		`1: 32 MiB, EFI System: vfat "GK-VFAT"`,
		`2: 32 MiB, Linux filesystem: ext4 "gk-ext4"`,
	} {
		assert.ErrorContains(t, err, want)
	}
	_, err = kern.AddDisk(lkl.Disk{Path: img, ReadOnly: true, Partition: 2, MountPoint: "/mnt/gpt-2"})
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(readFile(t, "/mnt/gpt-2/hello")))
	require.NoError(t, kern.Unmount("/mnt/gpt-2"))
}

// What this LKL build cannot mount is named, not "no file system found".
func TestAbsentTypesNamed(t *testing.T) {
	lvm := filepath.Join(t.TempDir(), "pv.img")
	require.NoError(t, os.WriteFile(lvm, nil, 0o644))
	require.NoError(t, os.Truncate(lvm, 16<<20))
	loops := []string{imagetest.Loop(t, lvm, 0, 0)}
	imagetest.LVM(t, loops, "pvcreate", loops...)
	tests := []struct {
		kind string
		img  string
		want []string
	}{
		{"squashfs", imagetest.Empty(t, "squashfs"), []string{"a squashfs file system", "squashfs is not in gokernel's LKL build"}},
		{"iso9660", imagetest.Empty(t, "iso9660"), []string{`an iso9660 file system "GK-ISO"`, "not in gokernel's LKL build"}},
		{"f2fs", imagetest.Empty(t, "f2fs"), []string{`an f2fs file system "gk-f2fs"`, "not in gokernel's LKL build"}},
		{"exfat", imagetest.Empty(t, "exfat"), []string{`an exfat file system "gk-exfat"`, "not in gokernel's LKL build"}},
		{"ntfs", imagetest.Empty(t, "ntfs"), []string{"an ntfs file system", "not in gokernel's LKL build"}},
		{"luks2", imagetest.Empty(t, "luks2"), []string{"a LUKS2 encrypted volume", "cryptsetup open"}},
		{"swap", imagetest.Empty(t, "swap"), []string{"a swap area, not a file system"}},
		{"lvm", lvm, []string{"an LVM2 physical volume", `--volume NAME (config "volume": NAME`}},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			_, err := kern.AddDisk(lkl.Disk{Path: tc.img, ReadOnly: true, MountPoint: "/mnt/absent-" + tc.kind})
			require.Error(t, err)
			t.Log(err)
			assert.ErrorContains(t, err, tc.img+": ")
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			require.Equal(t, uintptr(1), mustCall(t, "getpid", unix.SYS_GETPID), "the kernel keeps running")
		})
	}
}

// The server layout GPT → partition 3 → LVM PV → vg/root, opened whole:
// the partitions are listed, and the volumes with the flag that opens
// one.
func TestLVMDiskListed(t *testing.T) {
	img := imagetest.LVMDisk(t, imagetest.Tree{"hello.txt": "hello\n"})
	_, err := kern.AddDisk(lkl.Disk{Path: img, ReadOnly: true, MountPoint: "/mnt/lvm-whole"})
	require.Error(t, err)
	t.Log(err)
	for _, want := range []string{"3: 90 MiB, Linux LVM: LVM2_member (not-a-filesystem)", "--volume NAME", "vg/root (LVM linear)"} {
		assert.ErrorContains(t, err, want)
	}
	_, err = kern.AddDisk(lkl.Disk{Path: img, ReadOnly: true, Partition: 3, MountPoint: "/mnt/lvm-3"})
	require.Error(t, err)
	t.Log(err)
	assert.ErrorContains(t, err, "an LVM2 physical volume")
	assert.ErrorContains(t, err, "vg/root (LVM linear)")
}
