//go:build lkl

package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
	"github.com/gokernel/gokernel/ufs"
)

// imageCmdline sizes LKL's inode and dentry hash tables for images of
// tens of thousands of files: from 64 MiB of memory the kernel makes
// 4096-entry tables, whose hash chains a tree walk then follows
// (docs/ufs.md, "Measured").
const imageCmdline = "ihash_entries=65536 dhash_entries=65536"

// openImage boots LKL with path as its disk, mounted at imageMount, and
// returns an FS on it; withNet adds a user network interface (LKL at
// 10.0.2.15) and fills in image.guest and image.forward. Its close halts
// LKL, which unmounts a writable image (flushing it) and stops the
// network and its port forwards.
func openImage(path string, f imageFlags, withNet bool) (*image, error) {
	cfg := &lkl.Config{BootCmdline: imageCmdline, Disks: []lkl.Disk{{
		Path: path, Format: f.format, Overlay: f.overlay, ReadOnly: f.readOnly, Partition: f.partition, FSType: f.fstype, MountPoint: imageMount,
		Volume: f.volume, Images: f.images,
	}}}
	if withNet {
		cfg.Interfaces = []lkl.Interface{{Type: "user"}}
	}
	if f.isolate {
		return openIsolated(path, f, cfg, withNet)
	}
	if f.callLimit != "" {
		return nil, errors.New("--call-deadline needs --isolate: in-process LKL cannot interrupt a call")
	}
	k, err := lkl.Boot(cfg)
	if err != nil {
		return nil, imageErr(err)
	}
	fsys := ufs.New(k, imageMount)
	fstype := f.fstype
	if m := k.Mounts(); len(m) == 1 {
		fstype = m[0].FSType
	}
	img := &image{fs: fsys, path: path, flags: f, fstype: fstype, kernel: k, close: func() error {
		fsys.Close()
		if err := k.Halt(); err != nil { // unmounts a writable image first
			return fmt.Errorf("halting LKL: %w", err)
		}
		return nil
	}}
	if withNet {
		img.guest = k.UserNetwork().Config().Guest.String()
		img.forward = func(host string, port uint16) (net.Addr, error) {
			return k.Forward(usernet.Forward{Network: "tcp", Host: host, GuestPort: port})
		}
	}
	return img, nil
}

// openIsolated is openImage with --isolate: LKL runs in a sandboxed child
// process (sys/isolated), the user network (withNet) in this one. The file
// system type is what --fstype says, else what the child says it mounted
// (a hostile child may lie: directSource says why that is no worse than
// the bytes it may send).
func openIsolated(path string, f imageFlags, cfg *lkl.Config, withNet bool) (*image, error) {
	cfg.Isolation = "process"
	cfg.IsolationCallDeadline = f.callLimit
	k, err := isolated.Start(cfg)
	if err != nil {
		return nil, imageErr(err)
	}
	fsys := ufs.New(k, imageMount)
	fstype := f.fstype
	if m := k.Mounts(); fstype == "" && len(m) == 1 {
		fstype = m[0].FSType
	}
	if fstype == "" {
		fstype = "detected in the child"
	}
	img := &image{fs: fsys, path: path, flags: f, fstype: fstype, kernel: k, close: func() error {
		fsys.Close()
		if err := k.Halt(); err != nil {
			return fmt.Errorf("halting LKL: %w", err)
		}
		return nil
	}}
	if withNet { // the user network runs in this process
		img.guest = k.UserNetwork().Config().Guest.String()
		img.forward = func(host string, port uint16) (net.Addr, error) {
			return k.Forward(usernet.Forward{Network: "tcp", Host: host, GuestPort: port})
		}
	}
	return img, nil
}

// imageErr makes an error of lkl.Boot about the image speak of what the
// user typed. Boot speaks of its configuration: "lkl config: disks[0]:
// " before an error that names the image path as given (the open, the
// partition, the mount), or a *lkl.ConfigError whose key is a field of
// the disk, which here is a flag.
func imageErr(err error) error {
	var ce *lkl.ConfigError
	if errors.As(err, &ce) {
		switch field, ok := strings.CutPrefix(ce.Key, "disks[0]."); {
		case strings.HasPrefix(ce.Key, "images[") || ok && strings.HasPrefix(field, "images"):
			return fmt.Errorf("--image %q: %w", ce.Value, ce.Err)
		case ok && field == "path":
			return fmt.Errorf("image %q: %w", ce.Value, ce.Err)
		case ok:
			return fmt.Errorf("--%s %q: %w", field, ce.Value, ce.Err)
		}
	}
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "lkl config: disks[0]: ") {
		return inner
	}
	return err
}
