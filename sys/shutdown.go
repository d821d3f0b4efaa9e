package sys

// A Halter is a kernel that must be stopped in order before the program
// exits (LKL: unmount and flush its disks). The host kernel is not one.
type Halter interface {
	Halt() error
}

// Shutdown halts the process default kernel if it is a [Halter] (looking
// through tracing and fault-injection wrappers), and does nothing
// otherwise, so programs can call it unconditionally before they exit.
// Without it, data written to an LKL disk image may not reach the file.
func Shutdown() error {
	b := defaultKernel.Load()
	if b == nil {
		return nil // no kernel was started
	}
	k := b.k
	for {
		if h, ok := k.(Halter); ok {
			return h.Halt()
		}
		u, ok := k.(interface{ Unwrap() Kernel })
		if !ok {
			return nil
		}
		k = u.Unwrap()
	}
}
