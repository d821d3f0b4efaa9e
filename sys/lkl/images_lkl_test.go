//go:build lkl

package lkl_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys/lkl"
)

// imageTree is the tree every file system test image holds.
func imageTree(fstype string) imagetest.Tree {
	tr := imagetest.Tree{
		"hello.txt":                   "hello from the image\n",
		"empty":                       "",
		"a/b/c/deep.txt":              "deep\n",
		"unicode-ñ-日本語.txt":           "unicode name\n",
		"big.bin":                     strings.Repeat("gokernel", 40000), // 320 KB, many blocks
		"dir/":                        "",
		"link => hello.txt":           "",
		"dir/up => ../a/b/c/deep.txt": "",
	}
	return tr.For(fstype)
}

func sha(t testing.TB, path string) [32]byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// Every file of an image made on the host reads back the same through LKL,
// for each file system; the read-only images are never written.
func TestFileSystemImages(t *testing.T) {
	for _, fstype := range imagetest.FSTypes {
		for _, detect := range []bool{false, true} {
			name := fstype
			if detect {
				name += "/detected"
			}
			t.Run(name, func(t *testing.T) {
				tree := imageTree(fstype)
				img := imagetest.Build(t, fstype, tree)
				before := sha(t, img)
				mp := "/mnt/" + strings.ReplaceAll(name, "/", "-")
				d := lkl.Disk{Path: img, ReadOnly: true, MountPoint: mp}
				if !detect {
					d.FSType = fstype
				}
				info, err := kern.AddDisk(d)
				require.NoError(t, err)
				require.Equal(t, fstype, info.FSType)
				require.Equal(t, mp, info.MountPoint)

				for file, content := range tree.Files() {
					require.Equal(t, content, string(readFile(t, mp+"/"+file)), file)
				}
				names := listDir(t, mp)
				require.Contains(t, names, "hello.txt")
				require.Contains(t, names, "unicode-ñ-日本語.txt")
				require.Equal(t, byte(unix.DT_DIR), names["a"])
				if fstype != "vfat" {
					require.Equal(t, byte(unix.DT_LNK), names["link"])
					require.Equal(t, "hello from the image\n", string(readFile(t, mp+"/link")))
					require.Equal(t, "deep\n", string(readFile(t, mp+"/dir/up")))
				}
				st, e := stat(t, unix.SYS_STAT, mp+"/big.bin")
				require.Zero(t, e)
				require.Equal(t, int64(320000), st.Size)

				// Read-only: writes are refused, and the file is untouched.
				_, e = call(unix.SYS_OPEN, uintptr(unsafe.Pointer(cstr(t, mp+"/new"))), unix.O_CREAT|unix.O_WRONLY, 0o644)
				require.Equal(t, unix.EROFS, e)
				require.NoError(t, kern.Unmount(mp))
				require.Equal(t, before, sha(t, img), "a read-only image is never written")
			})
		}
	}
}

func TestPartitions(t *testing.T) {
	tree := imagetest.Tree{"in-partition.txt": "partition 2\n"}
	for _, table := range []string{"mbr", "gpt"} {
		t.Run(table, func(t *testing.T) {
			disk := imagetest.Partitioned(t, table, 2, "ext4", tree)
			mp := "/mnt/part-" + table
			_, err := kern.AddDisk(lkl.Disk{Path: disk, ReadOnly: true, Partition: 2, MountPoint: mp})
			require.NoError(t, err)
			require.Equal(t, "partition 2\n", string(readFile(t, mp+"/in-partition.txt")))
			require.NoError(t, kern.Unmount(mp))

			_, err = kern.AddDisk(lkl.Disk{Path: disk, ReadOnly: true, Partition: 3, MountPoint: mp + "-3"})
			require.ErrorContains(t, err, "partition 3: no ext2/3/4, xfs, btrfs or vfat file system found")
			_, err = kern.AddDisk(lkl.Disk{Path: disk, ReadOnly: true, Partition: 7, MountPoint: mp + "-7"})
			require.ErrorContains(t, err, "partition 7: no such partition")
		})
	}
}

// Bad images give an error that names the file, and the kernel goes on.
func TestBadImages(t *testing.T) {
	dir := t.TempDir()
	good := imagetest.Build(t, "ext4", imagetest.Tree{"f": "x"})
	corrupt := filepath.Join(dir, "corrupt.img")
	noise := make([]byte, 4<<20)
	for i := range noise {
		noise[i] = byte(i*7 + i>>8)
	}
	require.NoError(t, os.WriteFile(corrupt, noise, 0o644))
	// An ext4 image whose superblock survives but whose block groups are cut off.
	truncated := filepath.Join(dir, "truncated.img")
	b, err := os.ReadFile(good)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(truncated, b[:2<<20], 0o644))
	// An ext4 superblock magic on an otherwise zeroed disk.
	fake := filepath.Join(dir, "fake.img")
	zeros := make([]byte, 8<<20)
	zeros[1080], zeros[1081] = 0x53, 0xEF
	require.NoError(t, os.WriteFile(fake, zeros, 0o644))

	tiny := filepath.Join(dir, "tiny.img")
	require.NoError(t, os.WriteFile(tiny, []byte("small"), 0o644))

	tests := []struct {
		name string
		disk lkl.Disk
		want string
	}{
		{"missing file", lkl.Disk{Path: filepath.Join(dir, "nope.img"), MountPoint: "/mnt/bad1"}, "nope.img: no such file"},
		{"corrupt image", lkl.Disk{Path: corrupt, ReadOnly: true, MountPoint: "/mnt/bad2"}, corrupt + ": no ext2/3/4"},
		{"truncated image", lkl.Disk{Path: truncated, ReadOnly: true, MountPoint: "/mnt/bad3"}, truncated + ": mount ext4"},
		{"fake superblock", lkl.Disk{Path: fake, ReadOnly: true, MountPoint: "/mnt/bad4"}, fake + ": mount ext4"},
		{"wrong fstype", lkl.Disk{Path: good, ReadOnly: true, FSType: "xfs", MountPoint: "/mnt/bad5"}, good + ": mount xfs on /mnt/bad5"},
		{"directory as image", lkl.Disk{Path: dir, MountPoint: "/mnt/bad6"}, "is a directory"},
		{"character device as image", lkl.Disk{Path: "/dev/null", MountPoint: "/mnt/bad7"}, "/dev/null: not a regular file or block device"},
		{"tiny image", lkl.Disk{Path: tiny, MountPoint: "/mnt/bad8"}, "too small for a disk image"},
		{"bad fstype name", lkl.Disk{Path: good, FSType: "ntfs"}, `fstype="ntfs"`},
		{"relative mount point", lkl.Disk{Path: good, MountPoint: "mnt"}, `mountpoint="mnt"`},
		{"NUL in path", lkl.Disk{Path: "a\x00b"}, "NUL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kern.AddDisk(tc.disk)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, uintptr(1), mustCall(t, "getpid", unix.SYS_GETPID), "the kernel keeps running")
		})
	}
	require.Error(t, kern.Unmount("/mnt/never-mounted"))
}

// Files written through LKL into an ext4 image survive the halt: e2fsck
// finds the image clean and debugfs reads the same bytes.
func TestDurability(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"before.txt": "made on the host\n"})
	child(t, "durability", "GK_IMAGE="+img)
	imagetest.Run(t, "e2fsck", "-fn", img)
	for name, content := range durableFiles() {
		dump := filepath.Join(t.TempDir(), name)
		imagetest.Run(t, "debugfs", "-R", "dump /"+name+" "+dump, img)
		got, err := os.ReadFile(dump)
		require.NoError(t, err)
		require.Equal(t, content, string(got), name)
	}
}
