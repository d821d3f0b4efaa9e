package libgo

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Extended attributes: getxattr(2), listxattr(2), setxattr(2) and
// removexattr(2), on a path (following a final symlink), on the link itself
// (the l- calls) and on an open fd (the f- calls).
//
// A nil or empty dest asks the kernel for the size the value (or list)
// needs, as the C calls do; a value larger than dest is ERANGE. A file
// system without extended attributes answers EOPNOTSUPP, and a missing
// attribute is ENODATA.

// Getxattr reads the value of attribute attr of the file at path into
// dest and returns its length, with getxattr(2).
func (l *Libc) Getxattr(path, attr string, dest []byte) (sz int, err error) {
	return l.getxattr(unix.SYS_GETXATTR, path, attr, dest)
}

// Lgetxattr is Getxattr on a symlink itself, with lgetxattr(2).
func (l *Libc) Lgetxattr(path, attr string, dest []byte) (sz int, err error) {
	return l.getxattr(unix.SYS_LGETXATTR, path, attr, dest)
}

func (l *Libc) getxattr(trap uintptr, path, attr string, dest []byte) (int, error) {
	p, a, err := cstring2(path, attr)
	if err != nil {
		return 0, err
	}
	r, err := l.call(trap, uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(a)), uintptr(xattrBuf(dest)), uintptr(len(dest)), 0, 0)
	return countResult(r, err)
}

// Fgetxattr reads the value of attribute attr of the file open as fd into
// dest and returns its length, with fgetxattr(2).
func (l *Libc) Fgetxattr(fd int, attr string, dest []byte) (sz int, err error) {
	a, err := cstring(attr)
	if err != nil {
		return 0, err
	}
	r, err := l.call(unix.SYS_FGETXATTR, uintptr(fd), uintptr(unsafe.Pointer(a)), uintptr(xattrBuf(dest)), uintptr(len(dest)), 0, 0)
	return countResult(r, err)
}

// Listxattr writes the NUL-terminated names of the attributes of the file
// at path into dest and returns their total length, with listxattr(2).
func (l *Libc) Listxattr(path string, dest []byte) (sz int, err error) {
	return l.listxattr(unix.SYS_LISTXATTR, path, dest)
}

// Llistxattr is Listxattr on a symlink itself, with llistxattr(2).
func (l *Libc) Llistxattr(path string, dest []byte) (sz int, err error) {
	return l.listxattr(unix.SYS_LLISTXATTR, path, dest)
}

func (l *Libc) listxattr(trap uintptr, path string, dest []byte) (int, error) {
	p, err := cstring(path)
	if err != nil {
		return 0, err
	}
	r, err := l.call(trap, uintptr(unsafe.Pointer(p)), uintptr(xattrBuf(dest)), uintptr(len(dest)), 0, 0, 0)
	return countResult(r, err)
}

// Flistxattr is Listxattr on the file open as fd, with flistxattr(2).
func (l *Libc) Flistxattr(fd int, dest []byte) (sz int, err error) {
	r, err := l.call(unix.SYS_FLISTXATTR, uintptr(fd), uintptr(xattrBuf(dest)), uintptr(len(dest)), 0, 0, 0)
	return countResult(r, err)
}

// Setxattr sets attribute attr of the file at path to data, with
// setxattr(2); flags is 0, unix.XATTR_CREATE or unix.XATTR_REPLACE.
func (l *Libc) Setxattr(path, attr string, data []byte, flags int) error {
	return l.setxattr(unix.SYS_SETXATTR, path, attr, data, flags)
}

// Lsetxattr is Setxattr on a symlink itself, with lsetxattr(2).
func (l *Libc) Lsetxattr(path, attr string, data []byte, flags int) error {
	return l.setxattr(unix.SYS_LSETXATTR, path, attr, data, flags)
}

func (l *Libc) setxattr(trap uintptr, path, attr string, data []byte, flags int) error {
	p, a, err := cstring2(path, attr)
	if err != nil {
		return err
	}
	_, err = l.call(trap, uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(a)), uintptr(bufp(data)), uintptr(len(data)), uintptr(flags), 0)
	return err
}

// Fsetxattr is Setxattr on the file open as fd, with fsetxattr(2).
func (l *Libc) Fsetxattr(fd int, attr string, data []byte, flags int) error {
	a, err := cstring(attr)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_FSETXATTR, uintptr(fd), uintptr(unsafe.Pointer(a)), uintptr(bufp(data)), uintptr(len(data)), uintptr(flags), 0)
	return err
}

// Removexattr removes attribute attr of the file at path, with
// removexattr(2).
func (l *Libc) Removexattr(path, attr string) error {
	p, a, err := cstring2(path, attr)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_REMOVEXATTR, uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(a)), 0, 0, 0, 0)
	return err
}

// Fremovexattr is Removexattr on the file open as fd, with
// fremovexattr(2).
func (l *Libc) Fremovexattr(fd int, attr string) error {
	a, err := cstring(attr)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_FREMOVEXATTR, uintptr(fd), uintptr(unsafe.Pointer(a)), 0, 0, 0, 0)
	return err
}

// xattrBuf is dest's address, or nil for an empty dest: a NULL buffer with
// size 0 is how the xattr calls are asked for the size they need.
func xattrBuf(dest []byte) unsafe.Pointer {
	if len(dest) == 0 {
		return nil
	}
	return unsafe.Pointer(&dest[0])
}
