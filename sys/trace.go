package sys

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A Call is one system call as a [Tracer] saw it.
type Call struct {
	Kernel   string     // Name of the kernel that answered
	Trap     uintptr    // system call number (host ABI)
	Args     [6]uintptr // arguments as passed
	R1, R2   uintptr    // results
	Err      Errno      // 0 on success
	Start    time.Time  // when the call was made
	Duration time.Duration
}

// Name returns the system call's C name, as [SyscallName] does.
func (c *Call) Name() string { return SyscallName(c.Trap) }

// String formats the call the way strace does:
//
//	read(0x3, 0xc000012000, 0x1000) = 5 <1.2µs>
//	openat(0xffffffffffffff9c, 0xc00001a0c0, 0x80000) = -1 ENOENT (no such file or directory) <3µs>
func (c *Call) String() string {
	return string(c.appendTo(nil))
}

func (c *Call) appendTo(b []byte) []byte {
	b = append(b, c.Name()...)
	b = append(b, '(')
	for i := range printedArgs(c.Trap, &c.Args) {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, "0x"...)
		b = strconv.AppendUint(b, uint64(c.Args[i]), 16)
	}
	b = append(b, ") = "...)
	if c.Err != 0 {
		b = fmt.Appendf(b, "-1 %s (%s)", errnoName(c.Err), c.Err.Error())
	} else {
		b = strconv.AppendInt(b, int64(c.R1), 10)
	}
	b = append(b, " <"...)
	b = append(b, c.Duration.String()...)
	return append(b, '>')
}

// errnoName returns "ENOENT" for ENOENT, or "errno N" for a number without a name.
func errnoName(e Errno) string {
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return "errno " + strconv.Itoa(int(e))
}

// printedArgs is the number of arguments trap takes, or more if the caller
// passed something non-zero beyond them.
func printedArgs(trap uintptr, args *[6]uintptr) int {
	n := syscallArgs(trap)
	if n == 6 { // unknown: show what was passed
		n = 0
	}
	for i := len(args) - 1; i >= n; i-- {
		if args[i] != 0 {
			return i + 1
		}
	}
	return n
}

// A Tracer is a Kernel that hands every call it passes to its inner kernel to
// a record function. The record function runs on the calling goroutine after
// the call returns; it must be safe for concurrent use and should be quick.
type Tracer struct {
	inner  Kernel
	record func(Call)
}

// NewTracer returns a Kernel that answers through k and reports each call to
// record. The Call is passed by value so that tracing allocates nothing.
func NewTracer(k Kernel, record func(Call)) *Tracer {
	return &Tracer{inner: k, record: record}
}

// Name returns the inner kernel's name: tracing does not change which kernel
// answers.
func (t *Tracer) Name() string { return t.inner.Name() }

// Unwrap returns the traced kernel.
func (t *Tracer) Unwrap() Kernel { return t.inner }

// Syscall makes the call on the inner kernel and records it.
func (t *Tracer) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno) {
	c := Call{Kernel: t.inner.Name(), Trap: trap, Args: [6]uintptr{a1, a2, a3, a4, a5, a6}, Start: time.Now()}
	r1, r2, err = t.inner.Syscall(trap, a1, a2, a3, a4, a5, a6)
	c.Duration = time.Since(c.Start)
	c.R1, c.R2, c.Err = r1, r2, err
	t.record(c)
	return r1, r2, err
}

// WriteTrace returns a record function for [NewTracer] that writes one
// strace-like line per call to w, prefixed with the kernel name:
//
//	[host] getpid() = 4242 <310ns>
//
// Lines from concurrent calls are never interleaved. Write errors are
// dropped: tracing must not change the program's behaviour.
func WriteTrace(w io.Writer) func(Call) {
	var mu sync.Mutex
	var buf []byte
	return func(c Call) {
		mu.Lock()
		defer mu.Unlock()
		buf = append(buf[:0], '[')
		buf = append(buf, c.Kernel...)
		buf = append(buf, "] "...)
		buf = c.appendTo(buf)
		buf = append(buf, '\n')
		_, _ = w.Write(buf)
	}
}

// IsHost reports whether the traced kernel is the host's (HostKernel).
func (t *Tracer) IsHost() bool { return IsHost(t.inner) }
