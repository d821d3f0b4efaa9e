//go:build lkl

package main

import (
	"fmt"
	"net"

	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
	"github.com/gokernel/gokernel/ufs"
)

// imageCmdline sizes LKL's inode and dentry hash tables for images of
// tens of thousands of files: from 64 MiB of memory the kernel makes
// 4096-entry tables, and walking a 20,000-file tree spent 8% of its LKL
// thread in find_inode_fast's hash chains.
const imageCmdline = "ihash_entries=65536 dhash_entries=65536"

// openImage boots LKL with path as its disk, mounted at imageMount, and
// returns an FS on it; withNet adds a user network interface (LKL at
// 10.0.2.15) and fills in image.guest and image.forward. Its close halts
// LKL, which unmounts a writable image (flushing it) and stops the
// network and its port forwards.
func openImage(path string, f imageFlags, withNet bool) (*image, error) {
	cfg := &lkl.Config{BootCmdline: imageCmdline, Disks: []lkl.Disk{{
		Path: path, ReadOnly: f.readOnly, Partition: f.partition, FSType: f.fstype, MountPoint: imageMount,
	}}}
	if withNet {
		cfg.Interfaces = []lkl.Interface{{Type: "user"}}
	}
	k, err := lkl.Boot(cfg)
	if err != nil {
		return nil, err
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
