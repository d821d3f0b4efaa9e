package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/cli/clitest"
)

// The host echo server answers a client from another process: the
// standard library's net package.
func TestEchoBlockingHost(t *testing.T) {
	cmd := clitest.Command(asMain, nil, "echo-blocking", "-n", "2")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "stderr: %s", stderr.String())
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "first line %q", line)

	for _, msg := range []string{"one connection", "then another, after the first closed"} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = c.Write([]byte(msg))
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		require.Equal(t, msg, string(got))
		c.Close()
	}
	require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
}

func TestEchoBlockingSelftestHost(t *testing.T) {
	stdout, stderr, code := demo(t, nil, "echo-blocking", "-selftest")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "selftest: 3 messages echoed")

	_, stderr, code = demo(t, nil, "echo-blocking", "-addr", "[::1]:0")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "want an IPv4 host:port")
}

func TestSysinfoHost(t *testing.T) {
	stdout, stderr, code := demo(t, nil, "sysinfo")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "kernel:  Linux")
	require.Contains(t, stdout, "pid:     ")
	require.NotContains(t, stdout, "pid:     1\n", "the host pid of a test child is not 1")
	require.Regexp(t, `(?m)^  proc /proc proc `, stdout)
}
