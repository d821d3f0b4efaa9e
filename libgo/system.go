package libgo

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// System: identity of the kernel and the caller, mounts, and global state.

// efaultNil is the error for a nil pointer where the kernel must read or
// write a struct, decided in Go before the call. The host kernel would say
// EFAULT itself, but LKL runs without an MMU to catch the fault: its
// copy_from_user is a plain copy, and a NULL pointer crashes the whole
// process. Every wrapper that takes a struct pointer checks it.
const efaultNil = syscall.EFAULT

// Uname stores the kernel's name, release, version, machine and host name
// in buf with uname(2). A nil buf is EFAULT (see efaultNil).
func (l *Libc) Uname(buf *unix.Utsname) error {
	if buf == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_UNAME, uintptr(unsafe.Pointer(buf)), 0, 0, 0, 0, 0)
	return err
}

// Getpid returns the caller's process id with getpid(2): the process's pid
// on the host, 1 on LKL, whose one "process" is its init task.
func (l *Libc) Getpid() int {
	r, _, _ := l.syscall(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
	return int(r)
}

// Getppid returns the parent's process id with getppid(2) (0 on LKL,
// where nothing is above the init task).
func (l *Libc) Getppid() int {
	r, _, _ := l.syscall(unix.SYS_GETPPID, 0, 0, 0, 0, 0, 0)
	return int(r)
}

// Gettid returns the caller's thread id with gettid(2). On the host it is
// the id of the OS thread the goroutine runs on at that moment, which may
// change at the next call unless the goroutine is locked to its thread.
func (l *Libc) Gettid() int {
	r, _, _ := l.syscall(unix.SYS_GETTID, 0, 0, 0, 0, 0, 0)
	return int(r)
}

// Sync writes every file system's dirty data to its disk with sync(2),
// which cannot fail.
func (l *Libc) Sync() {
	l.syscall(unix.SYS_SYNC, 0, 0, 0, 0, 0, 0)
}

// mountDataMax is the size of the buffer mount(2) copies its data from:
// the kernel copies a whole page (copy_mount_options), whatever the
// string's length, so the string is passed in a NUL-padded page.
const mountDataMax = 4096

// Mount mounts source on target as a file system of type fstype with
// mount(2). flags are MS_* flags; data is the file system's option string
// ("mode=0755,size=1m"), or empty for none (a NULL pointer). data is
// copied into a NUL-padded 4096-byte buffer, because the kernel copies a
// whole page of it: longer data (it must leave room for its NUL) is
// EINVAL, as is a NUL byte in any of the strings.
func (l *Libc) Mount(source, target, fstype string, flags uintptr, data string) error {
	src, err := cstring(source)
	if err != nil {
		return err
	}
	tgt, err := cstring(target)
	if err != nil {
		return err
	}
	typ, err := cstring(fstype)
	if err != nil {
		return err
	}
	var page *[mountDataMax]byte
	if data != "" {
		if len(data) >= mountDataMax {
			return syscall.EINVAL
		}
		if _, err := cstring(data); err != nil {
			return err
		}
		page = new([mountDataMax]byte)
		copy(page[:], data)
	}
	_, err = l.call(unix.SYS_MOUNT, uintptr(unsafe.Pointer(src)), uintptr(unsafe.Pointer(tgt)), uintptr(unsafe.Pointer(typ)), flags, uintptr(unsafe.Pointer(page)), 0)
	return err
}

// Unmount unmounts the file system mounted on target with umount2(2);
// flags are MNT_FORCE, MNT_DETACH, MNT_EXPIRE and UMOUNT_NOFOLLOW.
func (l *Libc) Unmount(target string, flags int) error {
	p, err := cstring(target)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_UMOUNT2, uintptr(unsafe.Pointer(p)), uintptr(flags), 0, 0, 0, 0)
	return err
}

// Sysinfo stores memory, swap, load and uptime figures in info with
// sysinfo(2). A nil info is EFAULT (see efaultNil).
func (l *Libc) Sysinfo(info *unix.Sysinfo_t) error {
	if info == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_SYSINFO, uintptr(unsafe.Pointer(info)), 0, 0, 0, 0, 0)
	return err
}

// SchedGetaffinity stores in set the CPUs the calling thread may run on,
// with sched_getaffinity(2): the host's CPUs allowed to this process, or
// LKL's one CPU. A nil set is EFAULT (see efaultNil).
func (l *Libc) SchedGetaffinity(set *unix.CPUSet) error {
	if set == nil {
		return efaultNil
	}
	*set = unix.CPUSet{}
	_, err := l.call(unix.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(*set), uintptr(unsafe.Pointer(set)), 0, 0, 0)
	return err
}
