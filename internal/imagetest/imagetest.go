// Package imagetest makes file system images for tests: ext4, xfs, vfat and
// btrfs images built from a small tree description, whole or inside an MBR
// or GPT partition table, with the host's mkfs tools (e2fsprogs, xfsprogs,
// dosfstools + mtools, btrfs-progs, fdisk). Volume images (lvm.go, md.go)
// are made with lvm2's tools on loop devices, without the device mapper,
// and MD superblocks are written from their documented layout. It never
// mounts anything on the host.
//
// imagetest sits beside sys in the stack and imports nothing of gokernel;
// the LKL tests and, later, ufs's tests use it. A missing tool fails the
// test with the Debian package to install (.ci/run installs them all).
package imagetest

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Tree describes files, in the fixture style of os/root_test.go: a key
// ending in "/" is a directory, "name => target" is a symlink, anything
// else is a file whose content is the value. Parents are made as needed.
type Tree map[string]string

// Write creates the tree under dir.
func (tr Tree) Write(t testing.TB, dir string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(tr)) {
		content := tr[name]
		switch {
		case strings.HasSuffix(name, "/"):
			must(t, os.MkdirAll(filepath.Join(dir, name), 0o755))
		case strings.Contains(name, " => "):
			link, target, _ := strings.Cut(name, " => ")
			must(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, link)), 0o755))
			must(t, os.Symlink(target, filepath.Join(dir, link)))
		default:
			must(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
		}
	}
}

// Files returns the regular files of the tree and their contents.
func (tr Tree) Files() map[string]string {
	out := map[string]string{}
	for name, content := range tr {
		if !strings.HasSuffix(name, "/") && !strings.Contains(name, " => ") {
			out[name] = content
		}
	}
	return out
}

// For returns the tree as a file system of type fstype can hold it: vfat
// has no symlinks, so they are left out there; other types get tr itself.
func (tr Tree) For(fstype string) Tree {
	if fstype != "vfat" {
		return tr
	}
	out := Tree{}
	for name, content := range tr {
		if !strings.Contains(name, " => ") {
			out[name] = content
		}
	}
	return out
}

// FSTypes are the types Build can make.
var FSTypes = []string{"ext4", "xfs", "vfat", "btrfs"}

// minSize is each type's smallest image (xfsprogs refuses less than 300 MiB;
// the files are sparse, so the disk cost is what the file system writes).
var minSize = map[string]int64{"ext4": 32 << 20, "vfat": 32 << 20, "btrfs": 128 << 20, "xfs": 300 << 20}

// tools maps each command to the Debian package that has it.
var tools = map[string]string{
	"mke2fs": "e2fsprogs", "e2fsck": "e2fsprogs", "debugfs": "e2fsprogs",
	"mkfs.xfs": "xfsprogs", "mkfs.vfat": "dosfstools", "mcopy": "mtools",
	"mkfs.btrfs": "btrfs-progs", "sfdisk": "fdisk", "losetup": "mount",
	"pvcreate": "lvm2", "vgcreate": "lvm2", "lvcreate": "lvm2", "lvs": "lvm2",
	"pvs": "lvm2", "vgcfgbackup": "lvm2", "vgcfgrestore": "lvm2", "mdadm": "mdadm",
	"mksquashfs": "squashfs-tools", "mkfs.f2fs": "f2fs-tools", "mkfs.exfat": "exfatprogs",
	"mkfs.ntfs": "ntfs-3g", "cryptsetup": "cryptsetup-bin", "genisoimage": "genisoimage",
	"mkswap": "util-linux", "blkid": "util-linux",
}

// Run runs a host tool and fails the test with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return RunInput(t, "", name, args...)
}

// RunInput runs a host tool with input on its standard input (sfdisk's
// script), as Run does.
func RunInput(t testing.TB, input, name string, args ...string) string {
	t.Helper()
	path := lookSbin(name)
	if !fileExists(path) {
		t.Fatalf("%s is not installed: apt-get install %s (.ci/run does this)", name, tools[name])
	}
	var out bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdin = strings.NewReader(input)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// Build makes an image of the given type holding tree and returns its path.
func Build(t testing.TB, fstype string, tree Tree) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "root")
	must(t, os.Mkdir(src, 0o755))
	tree.Write(t, src)
	img := filepath.Join(dir, fstype+".img")
	MakeFS(t, fstype, src, img)
	return img
}

// MakeFS writes a file system of the given type, holding the files under
// src, into the image file img.
func MakeFS(t testing.TB, fstype, src, img string) {
	t.Helper()
	size, ok := minSize[fstype]
	if !ok {
		t.Fatalf("imagetest: cannot make %q images (only %v)", fstype, FSTypes)
	}
	f, err := os.Create(img)
	must(t, err)
	must(t, f.Truncate(size))
	must(t, f.Close())
	switch fstype {
	case "ext4":
		Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", src, img)
	case "btrfs":
		Run(t, "mkfs.btrfs", "-q", "-f", "--rootdir", src, img)
	case "vfat":
		Run(t, "mkfs.vfat", img)
		entries, err := os.ReadDir(src)
		must(t, err)
		for _, e := range entries {
			Run(t, "mcopy", "-s", "-p", "-i", img, filepath.Join(src, e.Name()), "::/")
		}
	case "xfs":
		proto := filepath.Join(filepath.Dir(img), "xfs.proto")
		must(t, os.WriteFile(proto, xfsProto(t, src), 0o644))
		// LKL is Linux 4.9: leave out the features newer kernels added
		// (bigtime, inobtcount: 5.10; reflink was experimental in 4.9).
		Run(t, "mkfs.xfs", "-q", "-f", "-m", "bigtime=0,inobtcount=0,reflink=0,rmapbt=0", "-p", proto, img)
	}
}

// xfsProto writes mkfs.xfs's prototype file (xfsprogs' mkfs/proto.c) for
// the tree under src: each entry is "name type+mode uid gid [source]".
func xfsProto(t testing.TB, src string) []byte {
	var b bytes.Buffer
	b.WriteString("/dev/null\n0 0\nd--755 0 0\n")
	var walk func(dir, indent string)
	walk = func(dir, indent string) {
		entries, err := os.ReadDir(dir)
		must(t, err)
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			fi, err := os.Lstat(p)
			must(t, err)
			perm := fmt.Sprintf("%03o", fi.Mode().Perm())
			switch {
			case fi.Mode()&os.ModeSymlink != 0:
				target, err := os.Readlink(p)
				must(t, err)
				fmt.Fprintf(&b, "%s%s l--%s 0 0 %s\n", indent, e.Name(), perm, target)
			case fi.IsDir():
				fmt.Fprintf(&b, "%s%s d--%s 0 0\n", indent, e.Name(), perm)
				walk(p, indent+" ")
				fmt.Fprintf(&b, "%s$\n", indent)
			default:
				fmt.Fprintf(&b, "%s%s ---%s 0 0 %s\n", indent, e.Name(), perm, p)
			}
		}
	}
	walk(src, " ")
	b.WriteString("$\n")
	return b.Bytes()
}

// EmptyKinds are the kinds Empty makes: the file systems of FSTypes and
// those LKL does not mount, and volumes that are not file systems.
var EmptyKinds = []string{"ext4", "xfs", "vfat", "btrfs", "squashfs", "iso9660", "f2fs", "exfat", "ntfs", "luks1", "luks2", "swap"}

// Empty makes an image holding an empty file system or volume of the
// given kind (one of EmptyKinds) and returns its path. It runs the
// kind's mkfs with its own defaults plus args: unlike MakeFS, xfs gets
// every feature xfsprogs turns on, so a test can see what Linux 4.9
// refuses ("-m", "bigtime=0" turns one off); ext4's args are mke2fs's
// ("-O", "verity"). The label, where the kind has one, is "gk-KIND"
// (GK-VFAT, GK-ISO). ext4, squashfs and iso9660 images hold one file,
// "hello", whose content is "hello\n"; the others are empty.
func Empty(t testing.TB, kind string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, kind+".img")
	size := map[string]int64{"btrfs": 128 << 20, "xfs": 300 << 20, "f2fs": 64 << 20}[kind]
	if size == 0 {
		size = 32 << 20
	}
	if kind != "squashfs" && kind != "iso9660" {
		f, err := os.Create(img)
		must(t, err)
		must(t, f.Truncate(size))
		must(t, f.Close())
	}
	label := "gk-" + kind
	src := filepath.Join(dir, "root")
	must(t, os.Mkdir(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "hello"), []byte("hello\n"), 0o644))
	switch kind {
	case "ext4":
		Run(t, "mke2fs", append([]string{"-q", "-F", "-t", "ext4", "-L", label, "-d", src}, append(args, img)...)...)
	case "xfs":
		Run(t, "mkfs.xfs", append([]string{"-q", "-f", "-L", label}, append(args, img)...)...)
	case "btrfs":
		Run(t, "mkfs.btrfs", append([]string{"-q", "-f", "-L", label}, append(args, img)...)...)
	case "vfat":
		Run(t, "mkfs.vfat", append([]string{"-n", "GK-VFAT"}, append(args, img)...)...)
	case "f2fs":
		Run(t, "mkfs.f2fs", append([]string{"-q", "-f", "-l", label}, append(args, img)...)...)
	case "exfat":
		Run(t, "mkfs.exfat", append([]string{"-L", label}, append(args, img)...)...)
	case "ntfs":
		Run(t, "mkfs.ntfs", append([]string{"-q", "-F", "-f", "-L", label}, append(args, img)...)...)
	case "squashfs":
		Run(t, "mksquashfs", append([]string{src, img, "-noappend", "-quiet"}, args...)...)
	case "iso9660":
		Run(t, "genisoimage", append([]string{"-quiet", "-V", "GK-ISO", "-o", img}, append(args, src)...)...)
	case "luks1", "luks2":
		// A weak, fast key derivation: the tests never open it.
		key := filepath.Join(dir, "key")
		must(t, os.WriteFile(key, []byte("gokernel"), 0o600))
		a := []string{"luksFormat", "-q", "--type", kind, "--key-file", key, "--pbkdf-force-iterations", "1000"}
		if kind == "luks2" {
			a = append(a, "--pbkdf", "pbkdf2", "--label", label)
		}
		Run(t, "cryptsetup", append(a, append(args, img)...)...)
	case "swap":
		must(t, os.Chmod(img, 0o600))
		Run(t, "mkswap", append([]string{"-L", label}, append(args, img)...)...)
	default:
		t.Fatalf("imagetest: Empty cannot make %q (only %v)", kind, EmptyKinds)
	}
	return img
}

// Blkid runs blkid's low-level probe (blkid -p -o export) on img at byte
// offset off and returns its keys (TYPE, UUID, LABEL, VERSION, …), with
// blkid's escaped spaces unescaped.
func Blkid(t testing.TB, img string, off int64) map[string]string {
	t.Helper()
	out := Run(t, "blkid", "-p", "-o", "export", "-O", strconv.FormatInt(off, 10), img)
	kv := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			kv[k] = strings.ReplaceAll(v, `\ `, " ")
		}
	}
	return kv
}

// Partitioned makes a disk image with a partition table ("mbr" or "gpt")
// whose partition number part (1-based, at most 3) holds a file system of
// the given type with tree; the other partitions are small and empty.
func Partitioned(t testing.TB, table string, part int, fstype string, tree Tree) string {
	t.Helper()
	fsimg := Build(t, fstype, tree)
	parts := make([]Part, 3)
	parts[part-1].Image = fsimg
	return Disk(t, table, parts...)
}

// A Part is one partition of a Disk: Image is a file (a file system
// image) copied into it, whose size it takes; without one the partition
// is 1 MiB and empty. Type is sfdisk's type for it ("U" is an EFI system
// partition, "L" Linux); "" is Linux.
type Part struct {
	Type  string
	Image string
}

// Disk makes a disk image with a partition table ("mbr" or "gpt") and
// the given partitions, in order, each starting on a MiB, and returns
// its path.
func Disk(t testing.TB, table string, parts ...Part) string {
	t.Helper()
	const mib = 1 << 20
	label := map[string]string{"mbr": "dos", "gpt": "gpt"}[table]
	if label == "" {
		t.Fatalf("imagetest: partition table %q: want mbr or gpt", table)
	}
	// Partitions start at 1 MiB; each other partition is 1 MiB.
	var script strings.Builder
	fmt.Fprintf(&script, "label: %s\n", label)
	start := int64(1)
	starts := make([]int64, len(parts))
	for i, p := range parts {
		size := int64(1)
		if p.Image != "" {
			fi, err := os.Stat(p.Image)
			must(t, err)
			size = (fi.Size() + mib - 1) / mib
		}
		typ := p.Type
		if typ == "" {
			typ = partType(label)
		}
		fmt.Fprintf(&script, "start=%dMiB, size=%dMiB, type=%s\n", start, size, typ)
		starts[i] = start
		start += size
	}
	disk := filepath.Join(t.TempDir(), "disk-"+table+".img")
	f, err := os.Create(disk)
	must(t, err)
	must(t, f.Truncate((start+1)*mib)) // room for the GPT backup header
	must(t, f.Close())
	RunInput(t, script.String(), "sfdisk", "-q", disk)
	for i, p := range parts {
		if p.Image != "" {
			copyInto(t, p.Image, disk, starts[i]*mib)
		}
	}
	return disk
}

func partType(label string) string {
	if label == "gpt" {
		return "0FC63DAF-8483-4772-8E79-3D69D8477DE4" // Linux filesystem
	}
	return "83"
}

// copyInto copies file src into dst at offset off, keeping holes sparse.
func copyInto(t testing.TB, src, dst string, off int64) {
	copyRange(t, src, 0, -1, dst, off)
}

// copyRange copies n bytes (all, if n < 0) of file src from srcOff into
// dst at dstOff, keeping holes sparse.
func copyRange(t testing.TB, src string, srcOff, n int64, dst string, dstOff int64) {
	in, err := os.Open(src)
	must(t, err)
	defer in.Close()
	if n < 0 {
		fi, err := in.Stat()
		must(t, err)
		n = fi.Size() - srcOff
	}
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	must(t, err)
	defer out.Close()
	const chunk = 64 << 10
	buf, zero := make([]byte, chunk), make([]byte, chunk)
	for i := int64(0); i < n; i += chunk {
		b := buf[:min(chunk, n-i)]
		_, err := in.ReadAt(b, srcOff+i)
		must(t, err)
		if bytes.Equal(b, zero[:len(b)]) {
			continue
		}
		_, err = out.WriteAt(b, dstOff+i)
		must(t, err)
	}
	must(t, out.Sync()) // a loop device: through to its image
}

// lookSbin finds a tool in PATH or in the sbin directories a non-root PATH
// may lack; it returns the bare name if there is none.
func lookSbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	return name
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
