//go:build !amd64

package supervise

import "syscall"

// auditArch is 0: there is no table for this architecture yet, and
// Filter says so.
const auditArch = 0

var (
	rules    []rule
	pathArgs = map[uintptr]struct{ dirfd, path, dirfd2, path2 int8 }{}
)

// answer refuses every call: there is no table for this architecture.
func answer(c *call) result { return result{err: syscall.ENOSYS} }

// quick says every call may block.
func quick(*supervisor, *seccompNotif) bool { return false }

// bridges are bridge.go's, which is amd64's: none here.
type bridges struct{}

func (s *supervisor) bridging() bool    { return false }
func (bs *bridges) stop(s *supervisor)  {}
func (bs *bridges) close(s *supervisor) {}
