package supervise

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// fdBase is the first fd number the child sees for a file of the other
// kernel: fds from fdBase up are the supervisor's, below are the host's.
// The host never gives a process an fd at or above 2^20 unless its
// RLIMIT_NOFILE is raised past fs.nr_open's default (1048576), so the
// filter can tell the two kinds apart from the number alone and let every
// call on a host fd run on the host without a round trip.
const fdBase = 1 << 20

// A class says when the filter sends a call to the supervisor.
type class uint8

const (
	// always: every call (paths, polls, execve).
	always class = iota + 1
	// fdArgs: when one of the arguments the entry's fds mask names is
	// an fd of the other kernel (fdBase up, as a non-negative int).
	fdArgs
	// notUnix: when the first argument (a socket family) is not AF_UNIX.
	notUnix
	// sockIoctl: ioctl on an fd of the other kernel, or with a socket
	// request (0x89xx: SIOCGIFCONF, SIOCGIFADDR, SIOCADDRT…) on any fd,
	// which on a bridged socket is the other kernel's.
	sockIoctl
	// msgArgs: sendto or recvfrom on an fd of the other kernel, or on
	// any fd with one of the rule's msgFlags set or (msgAddr) an address,
	// which on a bridged socket the host end could not honour.
	msgArgs
)

// A rule is one system call the filter may send to the supervisor.
type rule struct {
	nr    uintptr
	class class
	fds   uint8 // fdArgs: bit i set when argument i is an fd
	// paths marks calls that take a path: the filter sends them only
	// when some directory is the other kernel's (FilterOptions.Paths).
	paths bool
	// cwd marks calls about the working directory that take no path
	// (fchdir of a host fd, getcwd): sent only with Paths, as always.
	cwd bool
	// bridge marks a call sent for every fd when TCP sockets are
	// bridged (FilterOptions.Bridge): a bridge is a host fd.
	bridge bool
	// msgFlags and msgAddr (an argument index; 0: none) are msgArgs's.
	msgFlags uint32
	msgAddr  int
}

// FilterOptions choose what the filter sends to the supervisor.
type FilterOptions struct {
	// Paths sends the calls that take a path (open, stat, mkdir, …),
	// which the supervisor needs when directories of the other kernel
	// are mounted. Without it they run on the host with no round trip.
	Paths bool
	// Bridge sends the socket calls that make or name a connection
	// (bind, connect, listen, accept, socket options and names) on every
	// fd: the program's TCP sockets are host fds bridged to the other
	// kernel's (bridge.go).
	Bridge bool
}

// Filter returns the seccomp program of the child: the calls of the
// table (rules, in table_GOARCH.go) whose class says so return
// SECCOMP_RET_USER_NOTIF, every other call SECCOMP_RET_ALLOW. Calls of
// another architecture's ABI (audit arch) are allowed: there are none
// the table could name.
func Filter(o FilterOptions) ([]bpf.Instruction, error) {
	if len(rules) == 0 {
		return nil, fmt.Errorf("supervise: no system call table for this architecture")
	}
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		notify = unix.SECCOMP_RET_USER_NOTIF
	)
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArch, SkipTrue: 1},
		bpf.RetConstant{Val: allow},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // nr
	}
	for _, r := range rules {
		if r.cwd && !o.Paths || r.bridge && !o.Bridge {
			continue
		}
		if r.paths && !o.Paths {
			// Without directories of the other kernel, only a relative
			// path from one of its fds (fstatat(fd, "", AT_EMPTY_PATH)
			// on a socket) is the supervisor's.
			pa := pathArgs[r.nr]
			if pa.dirfd < 0 {
				continue
			}
			r = rule{nr: r.nr, class: fdArgs, fds: 1 << pa.dirfd}
		}
		var body []bpf.Instruction
		switch r.class {
		case always:
			body = []bpf.Instruction{bpf.RetConstant{Val: notify}}
		case notUnix:
			body = []bpf.Instruction{
				bpf.LoadAbsolute{Off: argOff(0), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AF_UNIX, SkipFalse: 1},
				bpf.RetConstant{Val: allow},
				bpf.RetConstant{Val: notify},
			}
		case sockIoctl:
			body = append(ourFD(0, 4),
				bpf.LoadAbsolute{Off: argOff(1), Size: 4},
				bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xff00},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8900, SkipTrue: 1},
				bpf.RetConstant{Val: allow},
				bpf.RetConstant{Val: notify},
			)
		case msgArgs:
			body = append(ourFD(0, 0), // SkipTrue 0s: to notify, set below
				bpf.LoadAbsolute{Off: argOff(3), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: r.msgFlags},
			)
			if r.msgAddr > 0 {
				body = append(body,
					bpf.LoadAbsolute{Off: argOff(r.msgAddr), Size: 4},
					bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0},
					bpf.LoadAbsolute{Off: argOff(r.msgAddr) + 4, Size: 4},
					bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0},
				)
			}
			body = append(body, bpf.RetConstant{Val: allow}, bpf.RetConstant{Val: notify})
			for i := 2; i < len(body)-2; i++ {
				if j, ok := body[i].(bpf.JumpIf); ok && j.SkipTrue == 0 {
					j.SkipTrue = uint8(len(body) - 2 - i)
					body[i] = j
				}
			}
		case fdArgs:
			// For each fd argument: its low 32 bits as an int are
			// >= fdBase (unsigned: in [fdBase, 2^31)) → notify. After
			// the last: allow.
			var n int
			for i := range 6 {
				if r.fds&(1<<i) != 0 {
					n++
				}
			}
			left := n
			for i := range 6 {
				if r.fds&(1<<i) == 0 {
					continue
				}
				left--
				// After this argument's 3 instructions come left*3
				// more, then RetConstant allow, then notify.
				toNotify := uint8(left*3 + 1)
				body = append(body, ourFD(i, toNotify)...)
			}
			body = append(body, bpf.RetConstant{Val: allow}, bpf.RetConstant{Val: notify})
		default:
			return nil, fmt.Errorf("supervise: rule for call %d has no class", r.nr)
		}
		// Not this call: skip the body. A body always returns, so
		// A still holds the number after the jump.
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(r.nr), SkipFalse: uint8(len(body))})
		prog = append(prog, body...)
	}
	prog = append(prog, bpf.RetConstant{Val: allow})
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("supervise: filter of %d instructions, more than BPF_MAXINSNS", len(prog))
	}
	return prog, nil
}

// ourFD tests whether argument i, its low 32 bits taken as an int, is an
// fd of the other kernel (in [fdBase, 2^31)): three instructions, after
// which a program goes skip instructions further when it is, and on to
// the next when it is not.
func ourFD(i int, skip uint8) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: argOff(i), Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 1 << 31, SkipTrue: 1},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: fdBase, SkipTrue: skip},
	}
}

// argOff is the offset of the low 32 bits of argument i in struct
// seccomp_data (little-endian).
func argOff(i int) uint32 { return 16 + 8*uint32(i) }
