package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/libgo"
)

func init() {
	register(&cli.Command{
		Name:    "sysinfo",
		Summary: "print uname, pid, cwd and the mount table of the selected kernel, through libgo",
		Help: `sysinfo uses libgo's typed wrappers (Uname, Getpid, Getwd, Sysinfo, Open,
Read) on whichever kernel GOKERNEL selects. The mount table is
/proc/self/mounts; a kernel without /proc (LKL boots with none) gets proc
mounted at /proc first.`,
		Setup: func(*flag.FlagSet) func([]string) error { return sysinfo },
	})
}

func sysinfo(args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: sysinfo takes no arguments", errUsage)
	}
	var uts unix.Utsname
	if err := libgo.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	cwd, err := libgo.Getwd()
	if err != nil {
		return fmt.Errorf("getcwd: %w", err)
	}
	var si unix.Sysinfo_t
	if err := libgo.Sysinfo(&si); err != nil {
		return fmt.Errorf("sysinfo: %w", err)
	}
	fmt.Fprintf(out.W, "kernel:  %s %s (%s)\n", cstr(uts.Sysname[:]), cstr(uts.Release[:]), cstr(uts.Machine[:]))
	fmt.Fprintf(out.W, "node:    %s\n", cstr(uts.Nodename[:]))
	fmt.Fprintf(out.W, "pid:     %d\n", libgo.Getpid())
	fmt.Fprintf(out.W, "cwd:     %s\n", cwd)
	fmt.Fprintf(out.W, "memory:  %d MiB total, %d MiB free\n", si.Totalram*uint64(si.Unit)>>20, si.Freeram*uint64(si.Unit)>>20)
	mounts, err := readMounts()
	if err != nil {
		return err
	}
	fmt.Fprintf(out.W, "mounts:\n")
	for _, line := range strings.Split(strings.TrimSpace(mounts), "\n") {
		fmt.Fprintf(out.W, "  %s\n", line)
	}
	return nil
}

// readMounts reads /proc/self/mounts through libgo, mounting proc at /proc
// first on a kernel that has none.
func readMounts() (string, error) {
	const file = "/proc/self/mounts"
	data, err := readAll(file)
	if errors.Is(err, fs.ErrNotExist) {
		if err := libgo.Mkdir("/proc", 0o555); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("mkdir /proc: %w", err)
		}
		if err := libgo.Mount("proc", "/proc", "proc", 0, ""); err != nil {
			return "", fmt.Errorf("mount proc: %w", err)
		}
		data, err = readAll(file)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return string(data), nil
}

// readAll reads a whole file with libgo's Open and Read.
func readAll(path string) ([]byte, error) {
	fd, err := libgo.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer libgo.Close(fd)
	var data []byte
	buf := make([]byte, 4096)
	for {
		n, err := libgo.Read(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return data, nil
		}
		data = append(data, buf[:n]...)
	}
}

// cstr returns the text of a NUL-padded C string.
func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
