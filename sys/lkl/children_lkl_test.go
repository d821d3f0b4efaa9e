//go:build lkl

package lkl_test

// LKL boots once per process, so whatever needs a kernel of its own, or a
// halt, runs in a child: this test binary started again with childEnv set.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

const childEnv = "GOKERNEL_LKL_TEST_CHILD"

// children are the modes of a child process; each returns an error to fail.
var children = map[string]func() error{
	"halt":       childHalt,
	"durability": childDurability,
	"boot-time":  childBootTime,
	"read-image": childReadImage,
	"read-host":  childReadHost,
	"boot-twice": childBootTwice,
	"config":     childConfig,
}

func runChild(name string) int {
	f := children[name]
	if f == nil {
		fmt.Fprintf(os.Stderr, "unknown child %q\n", name)
		return 2
	}
	if err := f(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// child runs this test binary as the named child with extra environment.
func child(t testing.TB, name string, env ...string) (stdout string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + name}, env...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	require.NoError(t, err, "child %s: stdout: %s\nstderr: %s", name, out.String(), errb.String())
	return out.String()
}

func check(cond bool, format string, args ...any) error {
	if cond {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// childHalt: a halt wakes a read blocked in LKL, later calls fail with
// ErrHalted, a second Halt says so, and the process keeps running.
func childHalt() error {
	k, err := lkl.Boot(nil)
	if err != nil {
		return err
	}
	var fds [2]int32
	if _, _, e := sys.SyscallOn(k, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	read := make(chan sys.Errno, 1)
	go func() {
		buf := make([]byte, 8)
		_, _, e := sys.SyscallOn(k, unix.SYS_READ, uintptr(fds[0]), uintptr(unsafe.Pointer(&buf[0])), 8, 0, 0, 0)
		read <- e
	}()
	time.Sleep(20 * time.Millisecond) // let the reader block in LKL
	if err := k.Halt(); err != nil {
		return fmt.Errorf("halt with a blocked reader: %w", err)
	}
	select {
	case <-read: // woken: EOF or EBADF, either is a clean return
	case <-time.After(5 * time.Second):
		return errors.New("the blocked reader never returned")
	}
	_, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
	if err := check(e == lkl.ErrHalted, "getpid after halt: %v, want %v", e, lkl.ErrHalted); err != nil {
		return err
	}
	if err := check(errors.Is(k.Halt(), lkl.ErrHalted), "second halt"); err != nil {
		return err
	}
	_, err = k.AddDisk(lkl.Disk{Path: "/dev/null"})
	return check(errors.Is(err, lkl.ErrHalted), "AddDisk after halt: %v", err)
}

// childBootTwice: LKL runs once per process.
func childBootTwice() error {
	k, err := lkl.Boot(nil)
	if err != nil {
		return err
	}
	if _, err := lkl.Boot(nil); err == nil || !strings.Contains(err.Error(), "already booted") {
		return fmt.Errorf("second boot while running: %v", err)
	}
	if err := k.Halt(); err != nil {
		return err
	}
	_, err = lkl.Boot(nil)
	return check(err != nil && strings.Contains(err.Error(), "already booted"), "boot after halt: %v", err)
}

// childDurability writes files into the read-write image GK_IMAGE through
// LKL, then halts; the parent checks the image with e2fsck and debugfs.
func childDurability() error {
	k, err := lkl.Boot(&lkl.Config{Disks: []lkl.Disk{{Path: os.Getenv("GK_IMAGE"), MountPoint: "/mnt/d"}}})
	if err != nil {
		return err
	}
	for name, content := range durableFiles() {
		p, _ := unix.BytePtrFromString("/mnt/d/" + name)
		fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644, 0, 0, 0)
		if e != 0 {
			return fmt.Errorf("create %s: %w", name, e)
		}
		b := []byte(content)
		for len(b) > 0 {
			n, _, e := sys.SyscallOn(k, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
			if e != 0 {
				return fmt.Errorf("write %s: %w", name, e)
			}
			b = b[n:]
		}
		sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	}
	return k.Halt()
}

func durableFiles() map[string]string {
	return map[string]string{
		"small.txt": "written through LKL\n",
		"big.bin":   strings.Repeat("0123456789abcdef", 1<<16), // 1 MiB
	}
}

// childBootTime prints how long Boot took to the first answered getpid,
// and how long Halt took.
func childBootTime() error {
	start := time.Now()
	k, err := lkl.Boot(nil)
	if err != nil {
		return err
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	boot := time.Since(start)
	start = time.Now()
	if err := k.Halt(); err != nil {
		return err
	}
	fmt.Printf("boot_ns=%d halt_ns=%d\n", boot.Nanoseconds(), time.Since(start).Nanoseconds())
	return nil
}

// childReadImage is one whole "read a file from an image" process: boot
// with GK_IMAGE mounted read-only, read GK_FILE, halt.
func childReadImage() error {
	k, err := lkl.Boot(&lkl.Config{Disks: []lkl.Disk{{Path: os.Getenv("GK_IMAGE"), ReadOnly: true, FSType: "ext4", MountPoint: "/mnt/d"}}})
	if err != nil {
		return err
	}
	n, err := readAll(k, "/mnt/d/"+os.Getenv("GK_FILE"))
	if err != nil {
		return err
	}
	fmt.Printf("read=%d\n", n)
	return k.Halt()
}

// childReadHost is the same process on the host kernel: read GK_HOSTFILE.
func childReadHost() error {
	n, err := readAll(sys.Host(), os.Getenv("GK_HOSTFILE"))
	fmt.Printf("read=%d\n", n)
	return err
}

func readAll(k sys.Kernel, path string) (int, error) {
	p, _ := unix.BytePtrFromString(path)
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("open %s: %w", path, e)
	}
	defer sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	buf := make([]byte, 1<<20)
	total := 0
	for {
		n, _, e := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if e != 0 {
			return total, e
		}
		if n == 0 {
			return total, nil
		}
		total += int(n)
	}
}

// childConfig boots with lkl-hijack's sysctl, nameserver and mount keys
// and checks their effect inside the kernel.
func childConfig() error {
	k, err := lkl.Boot(&lkl.Config{
		Sysctl:     "net.ipv4.ip_forward=1;net.core.somaxconn=512",
		Nameserver: "10.0.2.3",
		Mount:      "proc,sysfs",
		DelayMain:  "1000",
	})
	if err != nil {
		return err
	}
	defer k.Halt()
	for file, want := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward": "1\n",
		"/proc/sys/net/core/somaxconn":  "512\n",
		"/etc/resolv.conf":              "nameserver 10.0.2.3\n",
	} {
		got, err := readString(k, file)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if _, err := readString(k, "/sysfs/kernel/uevent_seqnum"); err != nil {
		return fmt.Errorf("sysfs is not mounted at /sysfs: %w", err)
	}
	return nil
}

func readString(k sys.Kernel, path string) (string, error) {
	p, _ := unix.BytePtrFromString(path)
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		return "", fmt.Errorf("open %s: %w", path, e)
	}
	defer sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	buf := make([]byte, 256)
	n, _, e := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if e != 0 {
		return "", fmt.Errorf("read %s: %w", path, e)
	}
	return string(buf[:n]), nil
}

func TestConfigKeys(t *testing.T) {
	child(t, "config")
}

func TestHalt(t *testing.T) {
	child(t, "halt")
}

func TestBootOncePerProcess(t *testing.T) {
	child(t, "boot-twice")
}
