//go:build lkl

package lkl

// #include "gk.h"
import "C"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/remote"
)

// attached is a disk image handed to LKL.
type attached struct {
	disk   Disk
	file   *os.File       // the host file LKL's requests go to with preadv/pwritev, if any
	device disk.Device    // the device given to AttachDisk; nil for an image opened here
	owned  io.Closer      // the device opened here (openDisk), closed at release
	godisk *goDisk        // serves requests for a device without a host file
	lkl    unsafe.Pointer // LKL's virtio device, for gk_disk_remove
	id     int            // LKL's disk id
	dev    string         // block device node inside LKL, once made
	fstype string         // the mounted file system type, once mounted
	mount  string         // the clean mount point, while mounted
}

// A MountInfo describes a disk image mounted in LKL.
type MountInfo struct {
	Disk       Disk   // as configured
	Device     string // block device node inside LKL, e.g. /dev/gk0p1
	FSType     string // given or detected
	MountPoint string // inside LKL
}

// openDisk opens the disk d names with disk.Open (a file, block device or
// URL; raw or qcow2; with or without an overlay), read-only when d says
// so: nothing LKL does can then change the image. A device that is a host
// file keeps the C fast path; any other is served from Go with timeout.
func openDisk(d Disk, timeout time.Duration) (*attached, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var dev disk.Device
	var err error
	if d.Volume != "" {
		dev, err = openVolume(d) // volume.go
	} else {
		dev, err = disk.Open(disk.Spec{Path: d.Path, Format: d.Format, Overlay: d.Overlay, ReadOnly: d.ReadOnly, Sources: remote.Sources()})
	}
	if err != nil {
		// disk.Open names the key ("path: …", "format: …", "overlay: …");
		// the path's own error already names the file or URL, as an
		// image's open always has (an *fs.PathError for a missing file).
		if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "path: ") {
			return nil, inner
		}
		return nil, err
	}
	d.ReadOnly = d.ReadOnly || disk.IsReadOnly(dev)
	a := &attached{disk: d, owned: dev.(io.Closer)}
	if hf, ok := dev.(HostFile); ok && hf.File() != nil {
		a.file = hf.File()
	} else {
		a.godisk = newGoDisk(d.Path, dev, timeout)
	}
	return a, nil
}

// add hands the image to LKL's virtio-blk driver: a host file is served
// in C (gk_blk_rw), any other device by goDisk.
func (a *attached) add() error {
	if a.godisk != nil {
		id, dev, err := a.godisk.add()
		a.id, a.lkl = id, dev
		return err
	}
	id := C.gk_disk_add(C.int(a.file.Fd()), &a.lkl)
	if id < 0 {
		return fmt.Errorf("lkl: attach %s: %w", a.disk.Path, syscall.Errno(-id))
	}
	a.id = int(id)
	return nil
}

// probeDevice is what Go reads a's superblocks from before a mount
// (mountcheck.go): the device its requests are served from or, for a
// disk served in C from its host file, that file (with pread, never
// written), so that the device's Go methods stay unused.
func (a *attached) probeDevice() disk.Device {
	dev := a.device
	if dev == nil {
		dev = a.owned.(disk.Device)
	}
	if a.file != nil {
		return disk.ReaderAt(a.file, dev.Size())
	}
	return dev
}

// release lets go of a disk LKL no longer uses: it closes an image opened
// here, and flushes a device given to AttachDisk (which its owner closes).
func (a *attached) release() error {
	var err error
	switch {
	case a.godisk != nil:
		err = a.godisk.release()
	case a.device != nil:
		if ferr := a.device.Flush(); ferr != nil {
			err = fmt.Errorf("lkl: disk %s: flush: %w", a.disk.Path, ferr)
		}
	}
	if a.owned != nil {
		if cerr := a.owned.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("lkl: disk %s: close: %w", a.disk.Path, cerr))
		}
	}
	return err
}

// closeDisks releases every disk; LKL is halted or was never booted.
func (k *Kernel) closeDisks() error {
	var errs []error
	for _, a := range k.disks {
		if err := a.release(); err != nil {
			errs = append(errs, err)
		}
	}
	k.disks = nil
	return errors.Join(errs...)
}

// A HostFile is a disk.Device that is a file (or block device) on the
// host, such as disk.File. AttachDisk serves such a device's requests in C
// with one preadv or pwritev each, without calling its ReadAt or WriteAt.
type HostFile interface {
	disk.Device
	File() *os.File
}

// AttachDisk attaches a block device to the running kernel, as AddDisk
// attaches an image file, and mounts it if opts.MountPoint is set.
// opts.Path is only the device's name in messages (empty means its type);
// ReadOnly, Partition, FSType and MountPoint are as for AddDisk, and a
// device that is disk.IsReadOnly is attached read-only.
//
// LKL's requests are served from dev: by preadv/pwritev on its host file
// if it is a HostFile, else by its ReadAt and WriteAt (see
// docs/disks-lkl.md). A request the device fails, or does not answer
// within Config.IOTimeout, is an I/O error (EIO) in the kernel, and the
// first such error is printed on stderr. dev must not make calls into
// this kernel: LKL waits for each request with its CPU held.
//
// The device is detached, and flushed, when it is unmounted with Unmount
// (or, not mounted, at Halt); Halt flushes it too. The caller keeps
// ownership: it closes dev after that. If mounting fails the device is
// detached again and the error returned.
func (k *Kernel) AttachDisk(dev disk.Device, opts Disk) (MountInfo, error) {
	if dev == nil {
		return MountInfo{}, errors.New("lkl: AttachDisk: nil device")
	}
	if opts.Path == "" {
		opts.Path = fmt.Sprintf("%T", dev)
	}
	opts.ReadOnly = opts.ReadOnly || disk.IsReadOnly(dev)
	if err := opts.Validate(); err != nil {
		return MountInfo{}, err
	}
	if size := dev.Size(); size < 512 {
		return MountInfo{}, fmt.Errorf("lkl: attach %s: %d bytes is too small for a disk", opts.Path, size)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done {
		return MountInfo{}, ErrHalted
	}
	a := &attached{disk: opts, device: dev}
	if hf, ok := dev.(HostFile); ok && hf.File() != nil {
		a.file = hf.File()
	} else {
		a.godisk = newGoDisk(opts.Path, dev, k.cfg.ioTimeout())
	}
	if err := a.add(); err != nil {
		if a.godisk != nil {
			a.godisk.handle.Delete()
		}
		return MountInfo{}, err
	}
	k.disks = append(k.disks, a)
	if opts.MountPoint != "" {
		if err := k.mount(a); err != nil {
			if derr := k.detach(a); derr != nil {
				err = errors.Join(err, derr)
			}
			return MountInfo{}, err
		}
	}
	return a.info(), nil
}

// detach takes a device given to AttachDisk out of the running kernel and
// releases it.
func (k *Kernel) detach(a *attached) error {
	if rc := C.gk_disk_remove(a.lkl); rc < 0 {
		// LKL may still send it requests: it stays attached until halt.
		return fmt.Errorf("lkl: detach %s: %w", a.disk.Path, syscall.Errno(-rc))
	}
	k.disks = slices.DeleteFunc(k.disks, func(b *attached) bool { return b == a })
	return a.release()
}

// AddDisk attaches a disk image to the running kernel and, if
// d.MountPoint is set, mounts it there. A bad image, a wrong fstype or a
// missing partition is an error that names the file; the kernel keeps
// running either way. An attached disk stays attached until Halt.
func (k *Kernel) AddDisk(d Disk) (MountInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done {
		return MountInfo{}, ErrHalted
	}
	a, err := openDisk(d, k.cfg.ioTimeout())
	if err != nil {
		return MountInfo{}, err
	}
	if err := a.add(); err != nil {
		if a.godisk != nil {
			a.godisk.handle.Delete()
			a.godisk = nil
		}
		a.release()
		return MountInfo{}, err
	}
	k.disks = append(k.disks, a)
	if d.MountPoint != "" {
		if err := k.mount(a); err != nil {
			return MountInfo{}, err
		}
	}
	return a.info(), nil
}

func (a *attached) info() MountInfo {
	return MountInfo{Disk: a.disk, Device: a.dev, FSType: a.fstype, MountPoint: a.mount}
}

// Mounts lists the disk images mounted now, in mount order.
func (k *Kernel) Mounts() []MountInfo {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []MountInfo
	for _, a := range k.disks {
		if a.mount != "" {
			out = append(out, a.info())
		}
	}
	return out
}

// Unmount unmounts the disk image mounted at mountpoint, which flushes it
// to the image file. A device given to AttachDisk is detached and flushed
// too.
func (k *Kernel) Unmount(mountpoint string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done {
		return ErrHalted
	}
	mp := path.Clean(mountpoint)
	for _, a := range k.disks {
		if a.mount != mp {
			continue
		}
		if err := k.unmount(a); err != nil {
			return err
		}
		if a.device != nil {
			return k.detach(a)
		}
		return nil
	}
	return fmt.Errorf("lkl: unmount %s: %w", mountpoint, errors.New("no disk image is mounted there"))
}

func (k *Kernel) unmount(a *attached) error {
	p, _ := unix.BytePtrFromString(a.mount)
	if _, e := k.internal(lklSYS_UMOUNT2, uintptr(unsafe.Pointer(p)), 0, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("lkl: unmount %s (%s): %w", a.mount, a.disk.Path, e)
	}
	a.mount = ""
	return nil
}

// mount makes the device node for a's partition, finds its file system
// type if none was given, and mounts it.
func (k *Kernel) mount(a *attached) error {
	d := a.disk
	where := d.Path
	if d.Partition > 0 {
		where = fmt.Sprintf("%s partition %d", d.Path, d.Partition)
	}
	// Read the superblock in Go first: what LKL cannot mount is refused
	// with the reason, not the kernel's EINVAL (mountcheck.go).
	plan, err := checkMount(a.probeDevice(), d, where)
	if err != nil {
		return err
	}
	if plan.readOnly {
		fmt.Fprintf(os.Stderr, "lkl: disk %s\n", plan.warn)
		d.ReadOnly = true
		a.disk.ReadOnly = true
	}
	var devid C.uint32_t
	if rc := C.gk_blkdev(C.int(a.id), C.uint(d.Partition), &devid); rc < 0 {
		if d.Partition > 0 {
			return fmt.Errorf("%s: no such partition (LKL found none with that number): %w", where, syscall.Errno(-rc))
		}
		return fmt.Errorf("%s: LKL has no block device for it: %w", where, syscall.Errno(-rc))
	}
	a.dev = fmt.Sprintf("/dev/gk%d", a.id)
	if d.Partition > 0 {
		a.dev += fmt.Sprintf("p%d", d.Partition)
	}
	if err := k.mkdirAll("/dev"); err != nil {
		return err
	}
	devp, _ := unix.BytePtrFromString(a.dev)
	if _, e := k.internal(lklSYS_MKNODAT, atFDCWD, uintptr(unsafe.Pointer(devp)), unix.S_IFBLK|0o600, uintptr(devid), 0, 0); e != 0 && e != syscall.EEXIST {
		return fmt.Errorf("%s: mknod %s: %w", where, a.dev, e)
	}
	if d.ReadOnly {
		// Mark the block device read-only, so file systems know not to
		// write at all: XFS otherwise writes its log even on a read-only
		// mount, which fails on the O_RDONLY image.
		if err := k.setReadOnly(a.dev); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	fstype := plan.fstype
	mp := path.Clean(d.MountPoint)
	if err := k.mkdirAll(mp); err != nil {
		return fmt.Errorf("%s: mount point: %w", where, err)
	}
	flags := uintptr(0)
	if d.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	mpp, _ := unix.BytePtrFromString(mp)
	typ, _ := unix.BytePtrFromString(fstype)
	if _, e := k.internal(lklSYS_MOUNT, uintptr(unsafe.Pointer(devp)), uintptr(unsafe.Pointer(mpp)), uintptr(unsafe.Pointer(typ)), flags, 0, 0); e != 0 {
		hint := ""
		if e == syscall.EINVAL || e == syscall.EUCLEAN || e == syscall.EIO {
			hint = fmt.Sprintf(" (is it a valid %s file system?)", fstype)
		}
		return fmt.Errorf("%s: mount %s on %s: %w%s", where, fstype, mp, e, hint)
	}
	a.fstype, a.mount = fstype, mp
	return nil
}

// setReadOnly sets the read-only flag of an LKL block device (BLKROSET).
func (k *Kernel) setReadOnly(dev string) error {
	p, _ := unix.BytePtrFromString(dev)
	fd, e := k.internal(lklSYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("open %s: %w", dev, e)
	}
	defer k.internal(lklSYS_CLOSE, fd, 0, 0, 0, 0, 0)
	one := int32(1)
	if _, e := k.internal(lklSYS_IOCTL, fd, unix.BLKROSET, uintptr(unsafe.Pointer(&one)), 0, 0, 0); e != 0 {
		return fmt.Errorf("BLKROSET %s: %w", dev, e)
	}
	return nil
}

// mkdirAll makes dir and its parents inside LKL.
func (k *Kernel) mkdirAll(dir string) error {
	dir = path.Clean(dir)
	if dir == "/" {
		return nil
	}
	if err := k.mkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	p, err := unix.BytePtrFromString(dir)
	if err != nil {
		return err
	}
	if _, e := k.internal(lklSYS_MKDIRAT, atFDCWD, uintptr(unsafe.Pointer(p)), 0o755, 0, 0, 0); e != 0 && e != syscall.EEXIST {
		return fmt.Errorf("mkdir %s: %w", dir, e)
	}
	return nil
}

// writeFile writes a whole file inside LKL, making its directory.
func (k *Kernel) writeFile(name string, data []byte) error {
	if err := k.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	fd, e := k.internal(lklSYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(p)), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644, 0, 0)
	if e != 0 {
		return fmt.Errorf("open %s: %w", name, e)
	}
	defer k.internal(lklSYS_CLOSE, fd, 0, 0, 0, 0, 0)
	for len(data) > 0 {
		n, e := k.internal(lklSYS_WRITE, fd, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), 0, 0, 0)
		if e != 0 {
			return fmt.Errorf("write %s: %w", name, e)
		}
		data = data[n:]
	}
	return nil
}
