package supervise

import "github.com/gokernel/gokernel/sys"

// A call is one intercepted system call.
type call struct {
	s    *supervisor
	p    *proc
	id   uint64 // the notification's
	tid  int    // the calling thread
	nr   uintptr
	args [6]uintptr
}

// A result is the supervisor's answer: a value or an errno, or cont
// (the host runs the call). undo, if set, takes back what the call made
// when the caller is gone before the answer reaches it.
type result struct {
	val     uintptr
	err     sys.Errno
	cont    bool
	undo    func()
	refused string // why the call was refused, for the trace
	sent    bool   // answered already (SECCOMP_ADDFD_FLAG_SEND)
}
