package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
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
	addr := startDemoChild(t, nil, "http", httpDir(t), "-listen", "127.0.0.1:0")
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
