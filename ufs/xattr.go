package ufs

import (
	"bytes"
	"syscall"

	"golang.org/x/sys/unix"
)

// Extended attributes, by name (confined like every other name) and on an
// open File. By name, the file is opened (read-only, non-blocking, without
// following a final symlink) and the f- calls are used on the fd: Linux
// has no *at form of the xattr calls. A symlink's own attributes are
// therefore not reachable by name: Listxattr reports none for a symlink,
// and Getxattr ENODATA.

// Listxattr returns the names of the extended attributes of name.
func (fsys *FS) Listxattr(name string) ([]string, error) {
	var names []string
	err := fsys.withXattrFD("flistxattr", name, func(f *File) (err error) {
		names, err = f.Listxattr()
		return err
	})
	return names, err
}

// Getxattr returns the value of the extended attribute attr of name.
func (fsys *FS) Getxattr(name, attr string) ([]byte, error) {
	var v []byte
	err := fsys.withXattrFD("fgetxattr", name, func(f *File) (err error) {
		v, err = f.Getxattr(attr)
		return err
	})
	return v, err
}

// Setxattr sets the extended attribute attr of name to data; flags is 0,
// unix.XATTR_CREATE or unix.XATTR_REPLACE.
func (fsys *FS) Setxattr(name, attr string, data []byte, flags int) error {
	return fsys.withXattrFD("fsetxattr", name, func(f *File) error {
		return f.Setxattr(attr, data, flags)
	})
}

// withXattrFD opens name for an xattr call and runs fn on it; a symlink is
// reported to fn as a nil File.
func (fsys *FS) withXattrFD(op, name string, fn func(*File) error) error {
	if err := checkName(op, name); err != nil {
		return err
	}
	fd, err := resolve(fsys, name, nil, func(parent int, base string) (int, error) {
		return fsys.l.Openat(parent, base, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	})
	if err == syscall.ELOOP {
		return pathErr(op, name, fn(nil))
	}
	if err != nil {
		return pathErr(op, name, err)
	}
	f := newFile(fsys, fd, name, 0)
	defer f.Close()
	err = fn(f)
	if pe, ok := err.(interface{ Unwrap() error }); ok {
		err = pe.Unwrap() // one PathError, with the name asked for
	}
	return pathErr(op, name, err)
}

// Listxattr returns the names of the File's extended attributes.
func (f *File) Listxattr() ([]string, error) {
	if f == nil {
		return nil, nil // a symlink, by name
	}
	var names []string
	err := f.use("flistxattr", func() error {
		buf, err := xattrCall(func(b []byte) (int, error) { return f.l.Flistxattr(f.fd, b) })
		if err != nil {
			return pathErr("flistxattr", f.name, err)
		}
		for n := range bytes.SplitSeq(buf, []byte{0}) {
			if len(n) > 0 {
				names = append(names, string(n))
			}
		}
		return nil
	})
	return names, err
}

// Getxattr returns the value of the File's extended attribute attr.
func (f *File) Getxattr(attr string) ([]byte, error) {
	if f == nil {
		return nil, syscall.ENODATA
	}
	var v []byte
	err := f.use("fgetxattr", func() (err error) {
		v, err = xattrCall(func(b []byte) (int, error) { return f.l.Fgetxattr(f.fd, attr, b) })
		return pathErr("fgetxattr", f.name, err)
	})
	return v, err
}

// Setxattr sets the File's extended attribute attr to data; flags is 0,
// unix.XATTR_CREATE or unix.XATTR_REPLACE.
func (f *File) Setxattr(attr string, data []byte, flags int) error {
	if f == nil {
		return syscall.EPERM // user xattrs on symlinks: as Linux says
	}
	return f.use("fsetxattr", func() error {
		return pathErr("fsetxattr", f.name, f.l.Fsetxattr(f.fd, attr, data, flags))
	})
}

// xattrCall asks call for the size it needs, then calls it with a buffer
// of that size, again while the value grows in between (ERANGE).
func xattrCall(call func([]byte) (int, error)) ([]byte, error) {
	for {
		n, err := call(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []byte{}, nil
		}
		buf := make([]byte, n)
		n, err = call(buf)
		if err == syscall.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
