//go:build lkl

package main

import (
	"errors"
	"fmt"

	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/ufs"
)

// imageCmdline sizes LKL's inode and dentry hash tables for images of
// tens of thousands of files: from 64 MiB of memory the kernel makes
// 4096-entry tables, and walking a 20,000-file tree spent 8% of its LKL
// thread in find_inode_fast's hash chains.
const imageCmdline = "ihash_entries=65536 dhash_entries=65536"

// openImage boots LKL with path as its disk, mounted at imageMount, and
// returns an FS on it. Its close unmounts the image (flushing it) and
// halts LKL.
func openImage(path string, f imageFlags) (*image, error) {
	k, err := lkl.Boot(&lkl.Config{BootCmdline: imageCmdline, Disks: []lkl.Disk{{
		Path: path, ReadOnly: f.readOnly, Partition: f.partition, FSType: f.fstype, MountPoint: imageMount,
	}}})
	if err != nil {
		return nil, err
	}
	fsys := ufs.New(k, imageMount)
	fstype := f.fstype
	if m := k.Mounts(); len(m) == 1 {
		fstype = m[0].FSType
	}
	return &image{fs: fsys, path: path, flags: f, fstype: fstype, close: func() error {
		fsys.Close()
		err := k.Unmount(imageMount)
		if herr := k.Halt(); herr != nil {
			err = errors.Join(err, fmt.Errorf("halting LKL: %w", herr))
		}
		return err
	}}, nil
}
