//go:build lkl

package main

import (
	"bytes"
	"flag"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

func init() {
	register(&command{
		name:    "lkl-info",
		summary: "show the running LKL kernel: uname, memory and mounts",
		help: `lkl-info asks LKL about itself through sys.Syscall (uname, sysinfo, and
/proc/mounts inside LKL, mounting proc if needed) and lists the disk
images it mounted. Run it with GOKERNEL=lkl.`,
		setup: func(*flag.FlagSet) func([]string) error { return lklInfo },
	})
}

func lklInfo(args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: lkl-info takes no arguments", errUsage)
	}
	k := lkl.Running()
	if k == nil || sys.Default().Name() != "lkl" {
		return fmt.Errorf("the selected kernel is %s, not LKL: run with GOKERNEL=lkl", sys.Default().Name())
	}
	var uts unix.Utsname
	if _, _, e := sys.Syscall(unix.SYS_UNAME, uintptr(unsafe.Pointer(&uts)), 0, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("uname: %w", e)
	}
	str := func(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }
	fmt.Fprintf(out.w, "kernel:  %s %s %s (%s)\n", str(uts.Sysname[:]), str(uts.Release[:]), str(uts.Version[:]), str(uts.Machine[:]))

	var si unix.Sysinfo_t
	if _, _, e := sys.Syscall(unix.SYS_SYSINFO, uintptr(unsafe.Pointer(&si)), 0, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("sysinfo: %w", e)
	}
	unit := uint64(si.Unit)
	fmt.Fprintf(out.w, "memory:  %d MiB total, %d MiB free\n", si.Totalram*unit>>20, si.Freeram*unit>>20)
	fmt.Fprintf(out.w, "uptime:  %d s, %d tasks\n", si.Uptime, si.Procs)

	mounts, err := procMounts()
	if err != nil {
		return err
	}
	fmt.Fprintf(out.w, "mounts (/proc/mounts inside LKL):\n%s", mounts)
	for _, m := range k.Mounts() {
		ro := "read-write"
		if m.Disk.ReadOnly {
			ro = "read-only"
		}
		fmt.Fprintf(out.w, "image:   %s -> %s (%s, %s, %s)\n", m.Disk.Path, m.MountPoint, m.FSType, m.Device, ro)
	}
	return nil
}

// procMounts reads /proc/mounts inside the kernel, mounting proc first if
// it is not there.
func procMounts() (string, error) {
	path, _ := unix.BytePtrFromString("/proc/mounts")
	fd, _, e := sys.Syscall(unix.SYS_OPEN, uintptr(unsafe.Pointer(path)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0, 0)
	if e == unix.ENOENT {
		dir, _ := unix.BytePtrFromString("/proc")
		typ, _ := unix.BytePtrFromString("proc")
		sys.Syscall(unix.SYS_MKDIR, uintptr(unsafe.Pointer(dir)), 0o555, 0, 0, 0, 0)
		if _, _, e := sys.Syscall(unix.SYS_MOUNT, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(dir)), uintptr(unsafe.Pointer(typ)), 0, 0, 0); e != 0 {
			return "", fmt.Errorf("mount proc: %w", e)
		}
		fd, _, e = sys.Syscall(unix.SYS_OPEN, uintptr(unsafe.Pointer(path)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0, 0)
	}
	if e != 0 {
		return "", fmt.Errorf("open /proc/mounts: %w", e)
	}
	defer sys.Syscall(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	var all []byte
	buf := make([]byte, 4096)
	for {
		n, _, e := sys.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if e != 0 {
			return "", fmt.Errorf("read /proc/mounts: %w", e)
		}
		if n == 0 {
			return string(all), nil
		}
		all = append(all, buf[:n]...)
	}
}
