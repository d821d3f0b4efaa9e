package ufs

import "github.com/gokernel/gokernel/sys"

// AsyncBackends returns the backends an Async can take on k, by the names
// GOKERNEL_AIO takes.
func AsyncBackends(k sys.Kernel) []string {
	return []string{"epoll"}
}
