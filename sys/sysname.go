package sys

import "strconv"

// sysName is one row of the generated table: a system call's C name and how
// many arguments it takes (-1 when unknown).
type sysName struct {
	name  string
	nargs int8
}

// SyscallName returns the C name of host system call number trap, such as
// "openat", or "syscall_N" for a number the host architecture does not have.
func SyscallName(trap uintptr) string {
	if trap < uintptr(len(sysNames)) && sysNames[trap].name != "" {
		return sysNames[trap].name
	}
	return "syscall_" + strconv.FormatUint(uint64(trap), 10)
}

// syscallArgs returns how many arguments trap takes, or 6 when unknown.
func syscallArgs(trap uintptr) int {
	if trap < uintptr(len(sysNames)) && sysNames[trap].name != "" && sysNames[trap].nargs >= 0 {
		return int(sysNames[trap].nargs)
	}
	return 6
}
