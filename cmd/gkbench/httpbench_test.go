package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// demoBinary builds cmd/demo for http-bench's serve row, with LKL if this
// binary has it, and returns its path ("" in a build without LKL, which
// has no serve row).
func demoBinary(t *testing.T) string {
	if !slices.Contains(sys.Kernels(), "lkl") {
		return ""
	}
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command builds demo for http-bench's serve row")
	bin := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command(goTool, "build", "-tags", "lkl", "-o", bin, "../demo")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run(), "go build -tags lkl ./cmd/demo")
	return bin
}

// http-bench end to end, briefly: one round, two clients.
func TestHTTPBench(t *testing.T) {
	o, e := benchHarness(t)
	require.NoError(t, httpBench(1, 200*time.Millisecond, 2, demoBinary(t)), e.String())
	rows := []string{"unet-epoll", "unet-uring", "net"}
	if slices.Contains(sys.Kernels(), "lkl") {
		rows = append(rows, `unet on lkl\*`, `serve: lkl via forward\*\*`, `lkl clients via NAT\*\*\*`)
	}
	for _, row := range rows {
		require.Regexp(t, `(?m)^\s*`+row+`\s+[1-9]\d*\s`, o.String())
	}
}

// http-load refuses bad arguments, and fails clearly when nothing
// answers at the URL.
func TestHTTPLoadBadInput(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, httpBenchFile), httpBenchBody(), 0o644))
	for _, args := range [][]string{
		{"http-load"},
		{"http-load", "http://127.0.0.1:1/body.bin"},
		{"http-load", "http://127.0.0.1:1/body.bin", "-dir", dir, "-clients", "0"},
	} {
		_, stderr, code := gkbench(t, nil, args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
	}
	// Nothing answers at a port held by a socket bound but not listening
	// (a connect gets RST), which no other test can take meanwhile.
	host := libgo.New(sys.Host())
	held, err := host.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	defer host.Close(held)
	require.NoError(t, host.Bind(held, &libgo.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := host.Getsockname(held)
	require.NoError(t, err)
	url := fmt.Sprintf("http://127.0.0.1:%d/body.bin", sa.(*libgo.SockaddrInet4).Port)
	_, stderr, code := gkbench(t, []string{"GOKERNEL=host"}, "http-load", url, "-dir", dir, "-duration", "200ms")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "connection refused")
}
