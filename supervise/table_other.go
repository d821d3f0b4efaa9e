//go:build !amd64

package supervise

import "github.com/gokernel/gokernel/sys"

// auditArch is 0: there is no table for this architecture yet, and
// Filter says so.
const auditArch = 0

var (
	rules    []rule
	pathArgs = map[uintptr]struct{ dirfd, path, dirfd2, path2 int8 }{}
)

// answer refuses every call: there is no table for this architecture.
func answer(c *call) result { return result{err: 38} } // ENOSYS

// A call is one intercepted system call.
type call struct {
	s    *supervisor
	p    *proc
	id   uint64
	tid  int
	nr   uintptr
	args [6]uintptr
}

// A result is the supervisor's answer.
type result struct {
	val     uintptr
	err     sys.Errno
	cont    bool
	undo    func()
	refused string
}

// A mixedEpoll has nothing to close here.
type mixedEpoll struct{}

func (*mixedEpoll) close(*supervisor) {}

// quick says every call may block.
func quick(*supervisor, *seccompNotif) bool { return false }
