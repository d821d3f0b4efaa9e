//go:build amd64

package supervise

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxControl bounds the control data of a sendmsg the supervisor reads
// (net.core.optmem_max's usual value is 20-128 KiB; past that the host
// refuses the call itself).
const maxControl = 256 << 10

// hostSendmsg answers sendmsg on a host socket: the host runs it, unless
// its control data passes an fd of ours (SCM_RIGHTS), which the host's
// AF_UNIX cannot carry (the number means nothing to it): EOPNOTSUPP,
// listed on the trace. What cannot be read is left to the host, which
// says EFAULT or EBADF itself. The program may change the message after
// the check; then the host says EBADF.
func (c *call) hostSendmsg() result {
	var msg msghdr
	if e := readMem(c.tid, c.args[1], unsafe.Slice((*byte)(unsafe.Pointer(&msg)), unsafe.Sizeof(msg))); e != 0 {
		return cont
	}
	if msg.Control == 0 || msg.Controllen < unix.SizeofCmsghdr || msg.Controllen > maxControl {
		return cont
	}
	ctl := make([]byte, msg.Controllen)
	if e := readMem(c.tid, msg.Control, ctl); e != 0 {
		return cont
	}
	msgs, err := unix.ParseSocketControlMessage(ctl)
	if err != nil {
		return cont
	}
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if isOurs(uintptr(uint32(fd))) {
				return c.s.refuse(c, syscall.EOPNOTSUPP, "passing an fd of the other kernel over a host socket (SCM_RIGHTS)")
			}
		}
	}
	return cont
}
