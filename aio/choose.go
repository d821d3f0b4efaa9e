package aio

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/gokernel/gokernel/sys"
)

// A Probe says which operations a kernel's io_uring supports
// (IORING_REGISTER_PROBE, Linux 5.6).
type Probe struct {
	lastOp    uint8
	supported [probeOps]bool
}

// Probe asks the kernel which operations the ring supports. Errors are
// *os.SyscallError "io_uring_register".
func (r *Ring) Probe() (*Probe, error) {
	var buf struct {
		h   probeHeader
		ops [probeOps]probeOp
	}
	if err := r.register(registerProbe, unsafe.Pointer(&buf), probeOps); err != nil {
		return nil, err
	}
	p := &Probe{lastOp: buf.h.lastOp}
	for _, op := range buf.ops[:buf.h.opsLen] {
		p.supported[op.op] = op.flags&probeOpSupported != 0
	}
	return p, nil
}

// Supports reports whether the kernel runs operation op.
func (p *Probe) Supports(op uint8) bool { return p.supported[op] }

// LastOp returns the highest opcode the kernel knows.
func (p *Probe) LastOp() uint8 { return p.lastOp }

// A Backend is the mechanism under gokernel's asynchronous I/O.
type Backend uint8

// The backends.
const (
	// Epoll: readiness from a Poller, then a non-blocking system call
	// per operation; every kernel has it.
	Epoll Backend = iota + 1
	// Uring: operations submitted to a Ring and completed by the kernel
	// (io_uring); the host, Linux 6.0 or later.
	Uring
)

// String returns "epoll" or "uring", the values of GOKERNEL_AIO.
func (b Backend) String() string {
	switch b {
	case Epoll:
		return "epoll"
	case Uring:
		return "uring"
	}
	return fmt.Sprintf("Backend(%d)", uint8(b))
}

// EnvBackend is the environment variable that picks the backend:
// "epoll", "uring", or "auto" (the default: uring where the kernel has
// what it needs, else epoll).
const EnvBackend = "GOKERNEL_AIO"

// NetOps are the operations eloop's network path needs from io_uring.
// Multishot receive into a buffer ring came in Linux 6.0, as did
// OpSendZC, which the probe can see: its presence is how Choose knows
// multishot receive is there, since no probe reports flags.
var NetOps = []uint8{OpAccept, OpRecv, OpSend, OpAsyncCancel, OpClose, OpRead, OpPollAdd, OpShutdown, OpSendZC}

// A Choice is the backend Choose picked and why, for logs and errors.
type Choice struct {
	Backend Backend
	Reason  string
}

// String returns "uring (…)" or "epoll (…)".
func (c Choice) String() string { return c.Backend.String() + " (" + c.Reason + ")" }

// Choose picks the backend for work on kernel k (nil: the process
// default) that needs the io_uring operations ops (none: NetOps), as the
// environment's GOKERNEL_AIO asks: it is Decide(k, os.Getenv(EnvBackend),
// ops...).
func Choose(k sys.Kernel, ops ...uint8) Choice {
	return Decide(k, os.Getenv(EnvBackend), ops...)
}

// Decide picks the backend for work on kernel k (nil: the process
// default) that needs the io_uring operations ops (none: NetOps), as want
// asks: "epoll" is epoll; "uring", "auto" and "" are io_uring if k is the
// host and its probe has every op, else epoll, with the reason (LKL,
// Linux 4.9, has no io_uring). Another value counts as auto and the
// reason says so. The probe costs a ring's setup and is made once for the
// plain host kernel.
func Decide(k sys.Kernel, want string, ops ...uint8) Choice {
	if k == nil {
		k = sys.Default()
	}
	if len(ops) == 0 {
		ops = NetOps
	}
	prefix := ""
	switch want {
	case "epoll":
		return Choice{Epoll, EnvBackend + "=epoll"}
	case "uring":
		prefix = EnvBackend + "=uring; "
	case "", "auto":
	default:
		prefix = fmt.Sprintf("%s=%q is not epoll, uring or auto: auto; ", EnvBackend, want)
	}
	if !sys.IsHost(k) {
		return Choice{Epoll, prefix + "kernel " + k.Name() + " is not the host: io_uring needs the host's (LKL, Linux 4.9, has none)"}
	}
	var p *Probe
	var err error
	if k == sys.Host() {
		p, err = hostProbe()
	} else {
		p, err = probeKernel(k)
	}
	if err != nil {
		return Choice{Epoll, prefix + "no io_uring: " + err.Error()}
	}
	var missing []string
	for _, op := range ops {
		if !p.Supports(op) {
			missing = append(missing, fmt.Sprint(op))
		}
	}
	if len(missing) > 0 {
		return Choice{Epoll, prefix + "io_uring lacks opcodes " + strings.Join(missing, ", ")}
	}
	return Choice{Uring, prefix + "io_uring has the operations needed"}
}

// hostProbe is the host's probe, made once.
var hostProbe = sync.OnceValues(func() (*Probe, error) { return probeKernel(sys.Host()) })

// probeKernel makes a small ring on k and probes it.
func probeKernel(k sys.Kernel) (*Probe, error) {
	r, err := NewRing(k, RingConfig{Entries: 2})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Probe()
}
