package fusefs

import (
	"context"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Extended attributes, through ufs's xattr methods, which open the file
// (never following a final symlink) and use the f- calls on its fd. A
// symlink's own attributes are not reachable that way: it lists none and
// refuses new ones with EPERM, as Linux refuses user attributes on
// symlinks.

// sized answers a getxattr or listxattr the way the system calls do: with
// an empty dest the size the value needs, ERANGE when dest is too small.
func sized(v []byte, dest []byte) (uint32, syscall.Errno) {
	switch {
	case len(dest) == 0:
		return uint32(len(v)), 0
	case len(dest) < len(v):
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// Getxattr implements fs.NodeGetxattrer.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.s.fsys.Getxattr(n.path(""), attr)
	if err != nil {
		return 0, errno(err)
	}
	return sized(v, dest)
}

// Listxattr implements fs.NodeListxattrer.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names, err := n.s.fsys.Listxattr(n.path(""))
	if err != nil {
		return 0, errno(err)
	}
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(0)
	}
	return sized([]byte(b.String()), dest)
}

// Setxattr implements fs.NodeSetxattrer; flags are XATTR_CREATE or
// XATTR_REPLACE.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return errno(n.s.fsys.Setxattr(n.path(""), attr, data, int(flags)))
}

// Removexattr implements fs.NodeRemovexattrer, with fremovexattr(2) on the
// file opened as ufs opens it for the other xattr calls.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if n.StableAttr().Mode == unix.S_IFLNK {
		return syscall.EPERM
	}
	return errno(n.s.withPath(n.path(""), unix.O_RDONLY|unix.O_NONBLOCK, func(fd int) error {
		return n.s.l.Fremovexattr(fd, attr)
	}))
}

var (
	_ fs.NodeGetxattrer    = (*node)(nil)
	_ fs.NodeListxattrer   = (*node)(nil)
	_ fs.NodeSetxattrer    = (*node)(nil)
	_ fs.NodeRemovexattrer = (*node)(nil)
)
