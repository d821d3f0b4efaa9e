//go:build lkl

package isolated_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
)

// hostileTree is the image the mutations start from.
var hostileTree = imagetest.Tree{
	"a.txt":         "alpha\n",
	"dir/b.txt":     "bravo\n",
	"dir/sub/c.bin": string(bytes.Repeat([]byte("charlie "), 4096)),
	"d/e/f/g.txt":   "golf\n",
}

// TestHostileSample mounts a fixed sample of ext4 images with random bytes
// flipped in their first 64 KiB (superblock, group descriptors, bitmaps,
// the first inode table blocks) read-only in isolated kernels and reads
// every file: whatever the kernel does, this process goes on, each image
// ends (answered, refused, or the child dead and reported), and no image
// is written. A seed of the campaign issue 20 asks for (not that campaign:
// 16 images, one mutation kind).
func TestHostileSample(t *testing.T) {
	defer goleak.VerifyNone(t)
	orig, err := os.ReadFile(imagetest.Build(t, "ext4", hostileTree))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	outcomes := map[string]int{}
	for seed := range uint64(16) {
		img := filepath.Join(dir, fmt.Sprintf("mut%d.img", seed))
		mutated := append([]byte(nil), orig...)
		r := rand.New(rand.NewPCG(seed, 20))
		for range 32 {
			mutated[1024+r.IntN(64<<10-1024)] ^= byte(1 + r.IntN(255))
		}
		if err := os.WriteFile(img, mutated, 0o644); err != nil {
			t.Fatal(err)
		}
		outcome := readHostile(t, img)
		outcomes[outcome]++
		after, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, mutated) {
			t.Errorf("seed %d: the read-only image was written", seed)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// readHostile boots an isolated kernel on img and reads the tree's files,
// and says how it went.
func readHostile(t *testing.T, img string) string {
	k, err := isolated.Start(&lkl.Config{IsolationDeadline: "5s",
		Disks: []lkl.Disk{{Path: img, ReadOnly: true, FSType: "ext4", MountPoint: "/mnt/d"}}})
	if err != nil {
		var d *isolated.DiedError
		if errors.As(err, &d) {
			return "died while booting"
		}
		return "mount refused"
	}
	read, failed := 0, 0
	buf := make([]byte, 64<<10)
	for name := range hostileTree {
		p, _ := unix.BytePtrFromString("/mnt/d/" + name)
		fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDONLY, 0, 0, 0, 0)
		if e != 0 {
			failed++
			continue
		}
		for {
			n, _, e := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
			if e != 0 || n == 0 {
				break
			}
		}
		sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
		read++
	}
	if err := k.Halt(); err != nil {
		var d *isolated.DiedError
		if !errors.As(err, &d) {
			t.Errorf("%s: halt: %v, want nil or a DiedError", img, err)
		}
		return "child died"
	}
	if failed > 0 {
		return "some files failed"
	}
	return "all files read"
}
