//go:build lkl

package lkl_test

import (
	"bytes"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// Mount an ext4 image held in memory, read-only, and read a file; Unmount
// detaches the device. Any io.ReaderAt and a size make such a disk. Not
// run: LKL boots once per process (TestAttachDiskReaderAt does the same).
func ExampleKernel_AttachDisk() {
	img, err := os.ReadFile("disk.img")
	if err != nil {
		panic(err)
	}
	k, err := lkl.Boot(nil)
	if err != nil {
		panic(err)
	}
	defer k.Halt()
	dev := disk.ReaderAt(bytes.NewReader(img), int64(len(img)))
	info, err := k.AttachDisk(dev, lkl.Disk{Path: "disk.img", MountPoint: "/mnt/img"})
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Device, info.FSType, info.Disk.ReadOnly) // e.g. /dev/gk0 ext4 true
	// Use it through sys.SyscallOn(k, ...), or with ufs.New(k, "/mnt/img").
	name, _ := unix.BytePtrFromString("/mnt/img/etc/hostname")
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(name)), unix.O_RDONLY, 0, 0, 0, 0)
	if e != 0 {
		panic(e)
	}
	buf := make([]byte, 256)
	n, _, _ := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	fmt.Printf("%s", buf[:n])
	sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	if err := k.Unmount("/mnt/img"); err != nil {
		panic(err)
	}
}
