// Package clitest runs a command's test binary as the command itself, in
// a child process, for the tests of cmd/demo and cmd/gkbench: the test
// binary's TestMain calls AsMain, and a test calls Run or Start with the
// same environment variable.
package clitest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// AsMain reports whether this process is a child that Run or Start made
// with asMain=1 in its environment; if so, it sets os.Args to the
// program's name and the arguments after "--", and the caller runs the
// program's main.
func AsMain(asMain, name string) bool {
	if os.Getenv(asMain) != "1" {
		return false
	}
	for i, a := range os.Args {
		if a == "--" {
			os.Args = append([]string{name}, os.Args[i+1:]...)
			break
		}
	}
	return true
}

// Command returns the command that runs this test binary as the program,
// with args, env added to its environment (after asMain=1 and an empty
// GOKERNEL and trace: the host kernel, untraced, unless env says).
func Command(asMain string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{asMain + "=1", "GOKERNEL=", "GOKERNEL_TRACE=", "GOKERNEL_TRACE_FILE="}, env...)...)
	return cmd
}

// Run runs the program in a child process and returns what it printed
// and its exit status.
func Run(t *testing.T, asMain string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := Command(asMain, env, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return o.String(), e.String(), code
}

// Start starts the program with args in a child process, a server that
// prints "listening on ADDR" first, and returns ADDR and the child's pid.
// When the test ends the child is stopped with SIGTERM and must exit
// with status 0.
func Start(t *testing.T, asMain string, env []string, args ...string) (addr string, pid int) {
	t.Helper()
	cmd := Command(asMain, env, args...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no first line: %v; stderr: %s", err, stderr.String())
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "first line %q", line)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		io.Copy(io.Discard, stdout)
		require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
	})
	return addr, cmd.Process.Pid
}
