//go:build lkl

package lkl

// #include <stdlib.h>
// #include "gk.h"
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Halt stops the kernel in order: new calls are refused with ErrHalted,
// calls in flight finish, LKL's remaining fds are closed, file systems are
// synced, those on writable disks are unmounted (which flushes them to
// their images), and LKL halts. A second Halt returns ErrHalted.
//
// File systems on read-only disks stay mounted: they have nothing to
// flush, and unmounting one only frees the kernel's caches of it, which
// halting frees anyway (for a 20,000-file tree, a tenth of a cp-out).
//
// A call blocked inside LKL for good (a read on a pipe nobody writes) is
// woken by shutting down every socket and closing every fd. If calls are
// still blocked after that, Halt leaves LKL running, refusing new calls,
// and says so: halting would free memory those calls sleep on.
func (k *Kernel) Halt() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done {
		return ErrHalted
	}
	k.done = true
	k.state.Store(stateHalting)

	if !k.drain(100 * time.Millisecond) {
		k.closeAll(true)
		if !k.drain(2 * time.Second) {
			return fmt.Errorf("lkl: halt: %d calls are still blocked inside LKL; the kernel stays up and refuses new calls", k.inflight.Load())
		}
	}
	k.closeAll(false)
	var errs []error
	k.internal(lklSYS_SYNC, 0, 0, 0, 0, 0, 0)
	for _, a := range slices.Backward(k.disks) {
		if a.mount != "" && !a.disk.ReadOnly {
			if err := k.unmount(a); err != nil {
				errs = append(errs, err)
			}
		}
	}
	k.removeNetdevs()
	for _, a := range k.disks {
		if a.godisk != nil {
			a.godisk.quiesce()
		}
	}
	if rc := C.gk_halt(); rc < 0 {
		errs = append(errs, fmt.Errorf("lkl: halt: %w", syscall.Errno(-rc)))
	}
	k.state.Store(stateHalted)
	if err := k.freeNetdevs(); err != nil {
		errs = append(errs, fmt.Errorf("lkl: halt: %w", err))
	}
	if err := k.closeDisks(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// drain waits up to max for the calls in flight to return.
func (k *Kernel) drain(max time.Duration) bool {
	deadline := time.Now().Add(max)
	for wait := 10 * time.Microsecond; k.inflight.Load() > 0; wait = min(2*wait, time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
	}
	return true
}

// closeAll closes every fd LKL has open, shutting sockets down first when
// wake is set, so that calls blocked on them return.
func (k *Kernel) closeAll(wake bool) {
	var lim unix.Rlimit
	n := uintptr(1024)
	if _, e := k.internal(lklSYS_GETRLIMIT, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&lim)), 0, 0, 0, 0); e == 0 && lim.Cur < 1<<20 {
		n = uintptr(lim.Cur)
	}
	for fd := uintptr(0); fd < n; fd++ {
		if wake {
			k.internal(lklSYS_SHUTDOWN, fd, unix.SHUT_RDWR, 0, 0, 0, 0)
		}
		k.internal(lklSYS_CLOSE, fd, 0, 0, 0, 0, 0)
		k.console.set(int(fd), -1)
	}
}

// mountPseudo mounts proc at /proc or sysfs at /sysfs, as lkl-hijack's
// "mount" key does.
func (k *Kernel) mountPseudo(fstype string) error {
	cs := C.CString(fstype)
	defer C.free(unsafe.Pointer(cs))
	if rc := C.gk_mount_fs(cs); rc < 0 {
		return syscall.Errno(-rc)
	}
	return nil
}

// applySysctls writes each Config.Sysctl entry to /proc/sys, mounting proc
// for it if needed.
func (k *Kernel) applySysctls() error {
	entries, _ := k.cfg.SysctlEntries()
	if len(entries) == 0 {
		return nil
	}
	if err := k.mountPseudo("proc"); err != nil {
		return fmt.Errorf("lkl config: sysctl: mount proc: %w", err)
	}
	for _, e := range entries {
		file := "/proc/sys/" + strings.ReplaceAll(e.Key, ".", "/")
		if err := k.writeFile(file, []byte(e.Value)); err != nil {
			return fmt.Errorf("lkl config: sysctl %s: %w", e.Key, err)
		}
	}
	return nil
}
