package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/internal/cli/clitest"
)

// asMain is the environment variable that makes the test binary demo.
const asMain = "DEMO_AS_MAIN"

// TestMain lets the test binary stand in for demo itself: a child started
// with DEMO_AS_MAIN=1 (clitest) runs main with the arguments after "--".
// With DEMO_CHECK_LEAKS=1 as well, the child then checks that the command
// left no goroutine and no host fd behind.
//
// A child started with DEMO_TEST_CHILD=1 (clitest, by runChildCheck) runs
// the child check named after "--" instead of the tests.
func TestMain(m *testing.M) {
	if clitest.AsMain(asMain, "demo") {
		if os.Getenv("DEMO_CHECK_LEAKS") == "1" {
			os.Exit(runCheckingLeaks())
		}
		main()
	}
	if clitest.AsMain(childCheckEnv, "child-check") {
		os.Exit(runChildCheckMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// childCheckEnv is the environment variable that makes the test binary
// run a child check.
const childCheckEnv = "DEMO_TEST_CHILD"

// childChecks are the checks that boot LKL in the test process itself.
// LKL boots once per process, so each runs in a child of the test binary
// (runChildCheck): a test can then run again in the same process
// (-count=N) and other tests keep their own kernels. The checks register
// themselves in init functions.
var childChecks = map[string]func() error{}

// runChildCheckMain runs the child check args names and returns the
// exit status: 0 when it passed, 1 with its error on stderr.
func runChildCheckMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "want one child check, got %q\n", args)
		return 2
	}
	check, ok := childChecks[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "no child check %q\n", args[0])
		return 2
	}
	if err := check(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runChildCheck runs the child check name in a child of the test binary
// with env added to its environment, and fails t with the child's output
// unless it passed.
func runChildCheck(t *testing.T, name string, env ...string) {
	t.Helper()
	stdout, stderr, code := clitest.Run(t, childCheckEnv, env, name)
	require.Zero(t, code, "child check %s:\n%s%s", name, stdout, stderr)
}

// runCheckingLeaks runs demo as main does, then fails (exit status 3)
// if a goroutine or a host fd outlived the command.
func runCheckingLeaks() int {
	if r, w, err := os.Pipe(); err == nil { // the runtime's own fds, first
		r.Close()
		w.Close()
	}
	fds0 := openFDs()
	before := goleak.IgnoreCurrent() // goroutines that packages start in init
	code := prog.Run(os.Args[1:], os.Stdout, os.Stderr)
	var err error
	for range 50 { // closed connections finish on their own goroutines
		if err = goleak.Find(before); err == nil && openFDs() == fds0 {
			return code
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := openFDs(); n != fds0 {
		err = errors.Join(err, fmt.Errorf("host fds: %d before, %d after", fds0, n))
	}
	fmt.Fprintln(os.Stderr, "leak:", err)
	return 3
}

// openFDs counts the process's open host fds.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		panic(err)
	}
	return len(entries)
}

// demo runs the demo command in a child process and returns what it printed
// and its exit status.
func demo(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return clitest.Run(t, asMain, env, args...)
}

// startDemoChild starts "demo args..." (a server that prints "listening
// on ADDR" first) in a child, stopped with SIGTERM when the test ends.
func startDemoChild(t *testing.T, env []string, args ...string) (addr string) {
	t.Helper()
	addr, _ = clitest.Start(t, asMain, env, args...)
	return addr
}

func TestDemo(t *testing.T) {
	traceFile := filepath.Join(t.TempDir(), "trace")
	tests := []struct {
		name           string
		env            []string
		args           []string
		code           int
		stdout, stderr string // substrings; "" matches anything
	}{
		{name: "no command", code: 2, stderr: "Commands:"},
		{name: "--help", args: []string{"--help"}, stdout: "Commands:"},
		{name: "-h", args: []string{"-h"}, stdout: "Commands:"},
		{name: "help", args: []string{"help"}, stdout: "Commands:"},
		{name: "--help hello", args: []string{"--help", "hello"}, stdout: "usage: demo hello"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "hello", args: []string{"hello"}, stdout: "hello, world\n"},
		{name: "hello rejects arguments", args: []string{"hello", "x"}, code: 2, stderr: "hello takes no arguments"},
		{name: "hello -h", args: []string{"hello", "-h"}, stderr: "usage: demo hello"},
		{name: "help hello", args: []string{"help", "hello"}, stdout: "jskernel's libsys example"},
		{name: "help unknown", args: []string{"help", "nope"}, code: 2, stderr: `unknown command "nope"`},
		{name: "kernels", args: []string{"kernels"}, stdout: "host  (selected)"},
		{name: "kernels explains a bad selection", env: []string{"GOKERNEL=plan9"}, args: []string{"kernels"}, code: 1, stderr: `no kernel named "plan9"`},
		{name: "bad kernel fails before the command runs", env: []string{"GOKERNEL=plan9"}, args: []string{"hello"}, code: 1, stderr: `no kernel named "plan9"`},
		{name: "trace hello", args: []string{"trace", "--", "hello"}, stdout: "hello, world\n", stderr: "[host] write(0x1, 0x"},
		{name: "trace to file", args: []string{"trace", "-o", traceFile, "--", "hello"}, stdout: "hello, world\n"},
		{name: "trace needs a command", args: []string{"trace"}, code: 2, stderr: "trace needs a command"},
		{name: "trace of unknown command", args: []string{"trace", "--", "nope"}, code: 2, stderr: `unknown command "nope"`},
		{name: "GOKERNEL_TRACE", env: []string{"GOKERNEL_TRACE=1"}, args: []string{"hello"}, stdout: "hello, world\n", stderr: ", 0xd) = 13 <"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := demo(t, tc.env, tc.args...)
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			if tc.code == 0 && len(tc.args) > 0 && (tc.args[0] == "--help" || tc.args[0] == "-h" || tc.args[0] == "help") {
				require.Empty(t, stderr, "help is not an error")
			}
			require.Contains(t, stdout, tc.stdout)
			require.Contains(t, stderr, tc.stderr)
		})
	}
	b, err := os.ReadFile(traceFile)
	require.NoError(t, err)
	require.Contains(t, string(b), "[host] write(0x1, ")
}
