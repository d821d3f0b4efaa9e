//go:build lkl

package isolated

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/sys/host"
	"github.com/gokernel/gokernel/sys/lkl"
)

// Disks at run time. The parent opens the image (O_RDONLY for a read-only
// disk) and sends a ctlDisk request with the fd's number; the child takes
// the fd from the parent's table with pidfd_getfd (through the pidfd of
// the parent it opened before the sandbox: the one pidfd the allow list
// lets it use) and attaches it with lkl.Kernel.AttachDisk, served in C by
// preadv/pwritev as a disk of the configuration is. Request and answer
// are JSON in the parent's memory, which the child reads and writes as
// it does a call's. A disk served by Go code in this process (qcow2, an
// overlay, a volume, a URL, a disk.Device that is not a host file) cannot
// be reached from the child: EOPNOTSUPP.

// diskReq is a ctlDisk request.
type diskReq struct {
	Op         string   // "add", "unmount" or "mounts"
	Disk       lkl.Disk // add: the disk, Path only its name in messages
	FD         int      // add: the image's fd in the parent
	MountPoint string   // unmount
}

// diskResp is its answer.
type diskResp struct {
	Info   lkl.MountInfo
	Mounts []lkl.MountInfo
	Err    string
}

// maxDiskMsg bounds a request or an answer.
const maxDiskMsg = 1 << 20

// AddDisk attaches the raw disk image d.Path (a regular file or a block
// device on the host, opened here: read-only when d.ReadOnly) to the
// running kernel and mounts it at d.MountPoint if that is set; as
// lkl.Kernel.AddDisk. An image that Go code would serve (qcow2, an
// overlay, a volume, a URL) is EOPNOTSUPP: that code would run in this
// process, out of the isolated kernel's reach.
func (k *Kernel) AddDisk(d lkl.Disk) (lkl.MountInfo, error) {
	if err := d.Validate(); err != nil {
		return lkl.MountInfo{}, err
	}
	if d.Format != "" && d.Format != "raw" || d.Overlay != "" || d.Volume != "" || len(d.Images) > 0 || strings.Contains(d.Path, "://") {
		return lkl.MountInfo{}, fmt.Errorf("isolated: AddDisk %s: %w: an isolated kernel takes raw images only at run time (qcow2, overlays, volumes and URLs are served by Go code in the calling process)", d.Path, syscall.EOPNOTSUPP)
	}
	flags := unix.O_RDWR
	if d.ReadOnly {
		flags = unix.O_RDONLY
	}
	p, err := unix.BytePtrFromString(d.Path)
	if err != nil {
		return lkl.MountInfo{}, err
	}
	cwd := unix.AT_FDCWD
	fd, _, e := host.Call(k.h, unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return lkl.MountInfo{}, &os.PathError{Op: "open", Path: d.Path, Err: e}
	}
	defer host.Close(k.h, int(fd))
	r, err := k.diskCall(diskReq{Op: "add", Disk: d, FD: int(fd)})
	return r.Info, err
}

// AttachDisk attaches dev, which must be a host file (a disk.Device with
// a File method, such as *disk.File): its fd is passed to the child. A
// device served by Go code is EOPNOTSUPP: it would have to run in this
// process. As lkl.Kernel.AttachDisk otherwise; the caller keeps dev.
func (k *Kernel) AttachDisk(dev disk.Device, opts lkl.Disk) (lkl.MountInfo, error) {
	hf, ok := dev.(interface{ File() *os.File })
	if !ok || hf.File() == nil {
		return lkl.MountInfo{}, fmt.Errorf("isolated: AttachDisk %T: %w: a device served by Go code cannot cross into the isolated kernel's process (a host file can)", dev, syscall.EOPNOTSUPP)
	}
	if opts.Path == "" {
		opts.Path = fmt.Sprintf("%T", dev)
	}
	opts.ReadOnly = opts.ReadOnly || disk.IsReadOnly(dev)
	if err := opts.Validate(); err != nil {
		return lkl.MountInfo{}, err
	}
	f := hf.File()
	r, err := k.diskCall(diskReq{Op: "add", Disk: opts, FD: int(f.Fd())})
	return r.Info, err
}

// Unmount unmounts the disk mounted at mountpoint (which flushes it) and
// detaches it; as lkl.Kernel.Unmount.
func (k *Kernel) Unmount(mountpoint string) error {
	_, err := k.diskCall(diskReq{Op: "unmount", MountPoint: mountpoint})
	return err
}

// Mounts lists the disks mounted now, in mount order (nil once the kernel
// has died or halted).
func (k *Kernel) Mounts() []lkl.MountInfo {
	r, _ := k.diskCall(diskReq{Op: "mounts"})
	return r.Mounts
}

// diskCall makes a ctlDisk request.
func (k *Kernel) diskCall(req diskReq) (diskResp, error) {
	in, err := json.Marshal(&req)
	if err != nil {
		return diskResp{}, err
	}
	out := make([]byte, 64<<10)
	n, _, e := k.call(ctlDisk, [6]uintptr{uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)), uintptr(unsafe.Pointer(&out[0])), uintptr(len(out))})
	if e != 0 {
		if e == errHalted {
			return diskResp{}, fmt.Errorf("isolated: %s: the kernel is halted: %w", req.Op, e)
		}
		if d := k.died.Load(); d != nil {
			return diskResp{}, d
		}
		return diskResp{}, fmt.Errorf("isolated: %s: %w", req.Op, e)
	}
	var r diskResp
	if n > uintptr(len(out)) {
		return diskResp{}, fmt.Errorf("isolated: %s: the child's answer does not fit", req.Op)
	}
	if err := json.Unmarshal(out[:n], &r); err != nil {
		return diskResp{}, fmt.Errorf("isolated: %s: the child's answer: %w", req.Op, err)
	}
	if r.Err != "" {
		return r, errors.New(r.Err)
	}
	return r, nil
}

// childDisks are the files the child attached at run time, by mount
// point ("" while not mounted), closed once unmounted.
var childDisks struct {
	mu    sync.Mutex
	files map[string]*os.File
}

// disk serves a ctlDisk request in the child: a = request address and
// length, answer address and room, all in the parent.
func (s *server) disk(a [6]uintptr) (uintptr, syscall.Errno) {
	if a[1] == 0 || a[1] > maxDiskMsg || a[3] > maxDiskMsg {
		return 0, syscall.EINVAL
	}
	in := make([]byte, a[1])
	if n, e := s.moveParent(unix.SYS_PROCESS_VM_READV, in, a[0]); e != 0 || n != a[1] {
		return 0, syscall.EFAULT
	}
	var req diskReq
	if err := json.Unmarshal(in, &req); err != nil {
		return 0, syscall.EINVAL
	}
	var resp diskResp
	var err error
	switch req.Op {
	case "add":
		resp.Info, err = s.addDisk(req)
	case "unmount":
		err = s.k.Unmount(req.MountPoint)
		if err == nil {
			childDisks.mu.Lock()
			if f := childDisks.files[req.MountPoint]; f != nil {
				f.Close()
				delete(childDisks.files, req.MountPoint)
			}
			childDisks.mu.Unlock()
		}
	case "mounts":
		resp.Mounts = s.k.Mounts()
	default:
		return 0, syscall.EINVAL
	}
	if err != nil {
		resp.Err = err.Error()
	}
	out, jerr := json.Marshal(&resp)
	if jerr != nil || uintptr(len(out)) > a[3] {
		return 0, syscall.ERANGE
	}
	if n, e := s.moveParent(unix.SYS_PROCESS_VM_WRITEV, out, a[2]); e != 0 || n != uintptr(len(out)) {
		return 0, syscall.EFAULT
	}
	return uintptr(len(out)), 0
}

// addDisk takes the parent's fd and attaches it.
func (s *server) addDisk(req diskReq) (lkl.MountInfo, error) {
	fd, err := s.takeFD(req.FD)
	if err != nil {
		return lkl.MountInfo{}, fmt.Errorf("isolated: AddDisk %s: %w", req.Disk.Path, err)
	}
	f := os.NewFile(uintptr(fd), req.Disk.Path)
	dev, err := newFDDevice(f, req.Disk.ReadOnly)
	if err != nil {
		f.Close()
		return lkl.MountInfo{}, fmt.Errorf("isolated: AddDisk %s: %w", req.Disk.Path, err)
	}
	info, err := s.k.AttachDisk(dev, req.Disk)
	if err != nil {
		f.Close()
		return lkl.MountInfo{}, err
	}
	childDisks.mu.Lock()
	if childDisks.files == nil {
		childDisks.files = map[string]*os.File{}
	}
	childDisks.files[info.MountPoint] = f // "" for an attached disk: closed at exit
	childDisks.mu.Unlock()
	return info, nil
}

// takeFD takes fd from the parent's table (pidfd_getfd, close-on-exec):
// the one way the child gets a host fd once the sandbox is on, for
// AddDisk's images and CopyToHost's destinations. The caller closes it.
func (s *server) takeFD(fd int) (int, error) {
	if s.pidfd < 0 {
		return -1, fmt.Errorf("pidfd_open of the parent: %w", s.pidfdErr)
	}
	r, _, e := host.Call(s.h, unix.SYS_PIDFD_GETFD, uintptr(s.pidfd), uintptr(fd), 0, 0, 0, 0)
	if e != 0 {
		return -1, fmt.Errorf("pidfd_getfd: %w", e)
	}
	return int(r), nil
}

// fdDevice is an image file the child took from the parent: a
// lkl.HostFile, so LKL serves it in C with preadv and pwritev.
type fdDevice struct {
	f        *os.File
	size     int64
	readOnly bool
}

func newFDDevice(f *os.File, readOnly bool) (*fdDevice, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	switch {
	case fi.Mode().IsRegular():
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		if size, err = f.Seek(0, 2); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("not a regular file or a block device (%v)", fi.Mode().Type())
	}
	return &fdDevice{f: f, size: size, readOnly: readOnly}, nil
}

func (d *fdDevice) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }
func (d *fdDevice) WriteAt(p []byte, off int64) (int, error) {
	if d.readOnly {
		return 0, disk.ErrReadOnly
	}
	return d.f.WriteAt(p, off)
}
func (d *fdDevice) Size() int64    { return d.size }
func (d *fdDevice) Flush() error   { return d.f.Sync() }
func (d *fdDevice) ReadOnly() bool { return d.readOnly }
func (d *fdDevice) File() *os.File { return d.f }
