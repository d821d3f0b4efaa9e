//go:build lkl

package main

import (
	"flag"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

func init() {
	register(&cli.Command{
		Name:    "lkl-info",
		Summary: "show the running LKL kernel: uname, memory and mounts",
		Help: `lkl-info asks LKL about itself through libgo (uname, sysinfo, and
/proc/self/mounts inside LKL, mounting proc if needed) and lists the disk
images it mounted. Run it with GOKERNEL=lkl.`,
		Setup: func(*flag.FlagSet) func([]string) error { return lklInfo },
	})
}

func lklInfo(args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: lkl-info takes no arguments", errUsage)
	}
	if sys.Default().Name() != "lkl" {
		return fmt.Errorf("the selected kernel is %s, not LKL: run with GOKERNEL=lkl", sys.Default().Name())
	}
	var uts unix.Utsname
	if err := libgo.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	fmt.Fprintf(out.W, "kernel:  %s %s %s (%s)\n", cstr(uts.Sysname[:]), cstr(uts.Release[:]), cstr(uts.Version[:]), cstr(uts.Machine[:]))
	var si unix.Sysinfo_t
	if err := libgo.Sysinfo(&si); err != nil {
		return fmt.Errorf("sysinfo: %w", err)
	}
	unit := uint64(si.Unit)
	fmt.Fprintf(out.W, "memory:  %d MiB total, %d MiB free\n", si.Totalram*unit>>20, si.Freeram*unit>>20)
	fmt.Fprintf(out.W, "uptime:  %d s, %d tasks\n", si.Uptime, si.Procs)
	mounts, err := readMounts()
	if err != nil {
		return err
	}
	fmt.Fprintf(out.W, "mounts (/proc/self/mounts inside LKL):\n%s", mounts)
	k := lkl.Running()
	if k == nil { // isolated: LKL runs in a child process
		fmt.Fprintf(out.W, "isolated: LKL runs in a sandboxed child process; its disks are the configuration's\n")
		return nil
	}
	for _, m := range k.Mounts() {
		ro := "read-write"
		if m.Disk.ReadOnly {
			ro = "read-only"
		}
		fmt.Fprintf(out.W, "image:   %s -> %s (%s, %s, %s)\n", m.Disk.Path, m.MountPoint, m.FSType, m.Device, ro)
	}
	return nil
}
