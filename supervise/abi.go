package supervise

import "unsafe"

// seccompData is struct seccomp_data from <linux/seccomp.h>: what a filter
// sees of a system call.
type seccompData struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// seccompNotif is struct seccomp_notif from <linux/seccomp.h>: one
// intercepted call, as SECCOMP_IOCTL_NOTIF_RECV fills it in. Pid is the
// calling thread's id.
type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

// seccompNotifResp is struct seccomp_notif_resp from <linux/seccomp.h>:
// the answer SECCOMP_IOCTL_NOTIF_SEND gives the caller.
type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// seccompNotifAddfd is struct seccomp_notif_addfd from
// <linux/seccomp.h>: SECCOMP_IOCTL_NOTIF_ADDFD puts the supervisor's fd
// Srcfd into the caller's table (at Newfd with SECCOMP_ADDFD_FLAG_SETFD;
// with SECCOMP_ADDFD_FLAG_SEND it also answers the call with the number).
type seccompNotifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// msghdr is struct msghdr from <sys/socket.h> (64-bit), with its pointers
// as numbers: they are addresses in the child.
type msghdr struct {
	Name       uintptr
	Namelen    uint32
	_          uint32
	Iov        uintptr
	Iovlen     uint64
	Control    uintptr
	Controllen uint64
	Flags      int32
	_          uint32
}

// mmsghdr is struct mmsghdr from <sys/socket.h>: a message of sendmmsg
// and the bytes sent of it.
type mmsghdr struct {
	Hdr msghdr
	Len uint32
	_   uint32
}

// The sizes <linux/seccomp.h> and <sys/socket.h> give; the arrays below
// fail to compile if a struct differs.
const (
	sizeofSeccompData       = 64
	sizeofSeccompNotif      = 80
	sizeofSeccompNotifResp  = 24
	sizeofSeccompNotifAddfd = 24
	sizeofMsghdr            = 56
	sizeofMmsghdr           = 64
)

var (
	_ [sizeofSeccompData - unsafe.Sizeof(seccompData{})]byte
	_ [sizeofSeccompNotif - unsafe.Sizeof(seccompNotif{})]byte
	_ [sizeofSeccompNotifResp - unsafe.Sizeof(seccompNotifResp{})]byte
	_ [sizeofSeccompNotifAddfd - unsafe.Sizeof(seccompNotifAddfd{})]byte
	_ [sizeofMsghdr - unsafe.Sizeof(msghdr{})]byte
	_ [sizeofMmsghdr - unsafe.Sizeof(mmsghdr{})]byte
)
