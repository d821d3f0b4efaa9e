//go:build lkl

package isolated

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/seccomp"

	"github.com/gokernel/gokernel/sys/host"
	"github.com/gokernel/gokernel/sys/lkl"
)

// memoryMargin is what the child may map beyond LKL's memory: the Go
// runtime's heap, the disks' buffers (256 MiB), and the threads' stacks:
// glibc maps 8 MiB for each thread (LKL's and cgo's: up to one per slot
// serving a call, and 64 more), and those mappings count as data too,
// though little of them is ever touched. It is a bound on address space,
// not on what is resident: a memory cgroup would bound that.
const memoryMargin = 256<<20 + (Slots+64)*(8<<20)

// lockDownBeforeBoot sets no-new-privileges, no core dumps, a bound on the
// child's data memory (what it has now, LKL's memory and memoryMargin:
// RLIMIT_DATA counts private writable mappings, which is what LKL's
// memory and the Go heap are) and the deny-list filter.
func lockDownBeforeBoot(h host.Caller, cfg *lkl.Config) error {
	if _, _, e := host.Call(h, unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("isolated: no_new_privs: %w", e)
	}
	if err := setrlimit(h, unix.RLIMIT_CORE, 0); err != nil {
		return err
	}
	mem, _ := cfg.MemoryBytes()
	if data, err := vmData(); err == nil {
		if err := setrlimit(h, unix.RLIMIT_DATA, uint64(data+mem+memoryMargin)); err != nil {
			return err
		}
	}
	insns, err := preBootFilter()
	if err != nil {
		return fmt.Errorf("isolated: seccomp: %w", err)
	}
	if err := seccomp.SetFilter(insns); err != nil {
		return fmt.Errorf("isolated: seccomp (deny list): %w", err)
	}
	return nil
}

// lockDownAfterBoot installs the allow-list filter (pidfd: see
// postBootFilter).
func lockDownAfterBoot(parent, pidfd int) error {
	insns, err := postBootFilter(parent, os.Getpid(), pidfd)
	if err != nil {
		return fmt.Errorf("isolated: seccomp: %w", err)
	}
	if err := seccomp.SetFilter(insns); err != nil {
		return fmt.Errorf("isolated: seccomp (allow list): %w", err)
	}
	return nil
}

func setrlimit(h host.Caller, res int, v uint64) error {
	lim := unix.Rlimit{Cur: v, Max: v}
	if _, _, e := host.Call(h, unix.SYS_PRLIMIT64, 0, uintptr(res), uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		return fmt.Errorf("isolated: setrlimit(%d, %d): %w", res, v, e)
	}
	return nil
}

// vmData returns the process's private writable memory in bytes (VmData
// of /proc/self/status).
func vmData() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmData:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmData in /proc/self/status")
}
