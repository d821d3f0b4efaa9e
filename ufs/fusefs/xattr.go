package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/gokernel/gokernel/ufs"
)

// Extended attributes, with the f- calls on the node's open file (files.go
// keeps it between requests): one call into the FS's kernel per request.
// The host kernel's buffer goes to the call as it is, so a size query (an
// empty buffer) and ERANGE for a buffer too small are the system call's own.
// A symlink's own attributes are not reachable that way: it lists none and
// refuses new ones with EPERM, as Linux refuses user attributes on
// symlinks.

// Getxattr implements fs.NodeGetxattrer.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	var m int
	err := n.withFile(func(f *ufs.File) (err error) {
		if f == nil {
			return syscall.ENODATA
		}
		m, err = n.s.l.Fgetxattr(f.Fd(), attr, dest)
		return err
	})
	return uint32(max(m, 0)), errno(err)
}

// Listxattr implements fs.NodeListxattrer.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var m int
	err := n.withFile(func(f *ufs.File) (err error) {
		if f == nil {
			return nil
		}
		m, err = n.s.l.Flistxattr(f.Fd(), dest)
		return err
	})
	return uint32(max(m, 0)), errno(err)
}

// Setxattr implements fs.NodeSetxattrer; flags are XATTR_CREATE or
// XATTR_REPLACE.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return errno(n.withFile(func(f *ufs.File) error {
		if f == nil {
			return syscall.EPERM
		}
		return n.s.l.Fsetxattr(f.Fd(), attr, data, int(flags))
	}))
}

// Removexattr implements fs.NodeRemovexattrer.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return errno(n.withFile(func(f *ufs.File) error {
		if f == nil {
			return syscall.EPERM
		}
		return n.s.l.Fremovexattr(f.Fd(), attr)
	}))
}

var (
	_ fs.NodeGetxattrer    = (*node)(nil)
	_ fs.NodeListxattrer   = (*node)(nil)
	_ fs.NodeSetxattrer    = (*node)(nil)
	_ fs.NodeRemovexattrer = (*node)(nil)
)
