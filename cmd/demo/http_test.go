package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/sys"
)

// httpDir makes a directory with one file for demo http.
func httpDir(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello over unet\nsecond line\n"), 0o644))
	return dir
}

// TestHTTPServe runs "demo http DIR -listen ADDR" on the host and fetches
// a file from it with the standard library's client; SIGTERM stops it
// cleanly (startDemoChild checks).
func TestHTTPServe(t *testing.T) {
	addr, _ := startDemoChild(t, "http", httpDir(t), "-listen", "127.0.0.1:0")
	resp, err := http.Get("http://" + addr + "/hello.txt")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, "hello over unet\nsecond line\n", string(body))
}

// TestHTTPGet runs "demo http DIR -get PATH" on every kernel this binary
// has: the request goes over that kernel's loopback.
func TestHTTPGet(t *testing.T) {
	dir := httpDir(t)
	for _, k := range demoKernels() {
		t.Run(k, func(t *testing.T) {
			stdout, stderr, code := demo(t, []string{"GOKERNEL=" + k}, "http", dir, "-listen", "127.0.0.1:0", "-get", "/hello.txt")
			require.Equal(t, 0, code, "stderr: %s", stderr)
			require.Contains(t, stdout, "GET /hello.txt: 200 OK, 28 bytes over the "+k+" kernel's TCP\nhello over unet\n")
			_, stderr, code = demo(t, []string{"GOKERNEL=" + k}, "http", dir, "-listen", "127.0.0.1:0", "-get", "/nope")
			require.Equal(t, 1, code)
			require.Contains(t, stderr, "404 Not Found")
		})
	}
}

// http-bench end to end, briefly: one round, two clients.
func TestHTTPBench(t *testing.T) {
	o, e := benchHarness(t)
	require.NoError(t, httpBench(1, 200*time.Millisecond, 2), e.String())
	rows := []string{"unet", "net"}
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
		_, stderr, code := demo(t, nil, args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
	}
	_, stderr, code := demo(t, []string{"GOKERNEL=host"}, "http-load", "http://127.0.0.1:1/body.bin", "-dir", dir, "-duration", "200ms")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "connection refused")
}
