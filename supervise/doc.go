// Package supervise runs an unmodified program, static Go binaries
// included, with some of its system calls answered by another kernel
// (LKL): its sockets of the inet families and netlink, and its files
// under chosen directories. It is demo run's engine (docs/run.md).
//
// The program runs in a child process: this binary started again (Child,
// which every program that calls Run must call first in main or
// TestMain), which sets no-new-privs, installs a seccomp filter that
// sends the intercepted calls to the supervisor (SECCOMP_RET_USER_NOTIF),
// passes the filter's listener back over a socket pair and executes the
// program. The supervisor (Run) receives each notification, answers it on
// the other kernel, with the call's pointers read and written in the
// child's memory by that kernel (Options.ForProcess), or lets the host
// kernel run it (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
//
// supervise sits above sys: every system call it makes, on the host or on
// the other kernel, goes through a sys.Kernel. It imports sys and libgo;
// cmd/demo uses it.
package supervise
