// Package isolated runs LKL in a child process, so that a kernel bug hit
// by a hostile disk image (LKL has no MMU: such a bug writes into, or
// aborts, the process it runs in) takes down the child, not the program.
// The program reaches it through the same sys.Kernel contract as
// in-process LKL; select it with GOKERNEL=lkl and "isolation": "process"
// in the configuration, or call Start.
//
// The call path: the parent writes the system call number and its six
// words into a slot of a shared-memory channel (a memfd mapped by both; a
// slot per calling goroutine, 256 slots, the last freed reused first), and
// the child's goroutine for that slot runs the call on LKL and answers in
// the same slot. Each side spins briefly, then yields, then sleeps in
// futex(2), and is woken only if it sleeps. Pointer arguments stay in the
// parent: the child runs every call with lkl.Kernel.ForProcess(parent),
// so LKL reads and writes the parent's memory with process_vm_readv and
// process_vm_writev (LKL fix 16); no call needs marshalling.
//
// The child is this program's own binary started again with EnvChild set;
// this package's init hook (in binaries built with -tags lkl) notices it
// before main runs, boots LKL with the configuration the parent sends,
// serves, and exits when halted. Nothing needs to be called from main.
//
// Failure is contained: if the child crashes, is killed, or stops
// answering for longer than the configuration's isolation_deadline (its
// heartbeat, a call into LKL every 100 ms, stops), every pending and later
// call returns EIO and Halt (so sys.Shutdown) returns a *DiedError that
// says how it ended, with the end of its console (LKL's panic message).
// The parent keeps running.
//
// docs/isolation.md has the threat model, what the host must allow and
// the measured costs.
package isolated
