package usernet

import (
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Teardown lets the tests stop their guest netstack the way a Network
// stops its own (NIC id 1, as the guest's), on the host kernel.
func Teardown(s *stack.Stack, ep stack.LinkEndpoint, fd int) { teardown(nil, s, ep, fd) }
