// Package cli is what gokernel's commands share: a Program of subcommands
// (cmd/demo, the user's tool, and cmd/gkbench, the benchmarks), each
// with its flags and help; the kernel is started before a command runs
// and halted after it. It also holds the few helpers both programs'
// servers use (PrintListening, ServeHTTP, ParseAfterFirst).
//
// cli sits just below cmd in the stack: it imports sys (to start and
// halt the kernel GOKERNEL selects) and nothing else of gokernel, and only
// commands import it. Its subpackage clitest runs a command's test binary
// as the command itself, in a child process.
package cli
