package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// rangeserve answers a Range request with the bytes asked for (206), a
// stale If-Range with the whole file, a path outside the directory with
// 404, and /__bytes with the body bytes sent since the last time.
func TestRangeServe(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "disk.img"), data, 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- rangeServe(ctx, "127.0.0.1:0", dir, func(a net.Addr) { addrs <- a }) }()
	base := fmt.Sprintf("http://%s", <-addrs)
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	get := func(path string, header ...string) (*http.Response, []byte) {
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}

	resp, body := get("/disk.img", "Range", "bytes=1000-66535")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, data[1000:66536], body)
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	require.NotEmpty(t, resp.Header.Get("Last-Modified"))

	resp, body = get("/disk.img", "Range", "bytes=10-19", "If-Range", etag)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, data[10:20], body)
	resp, body = get("/disk.img", "Range", "bytes=10-19", "If-Range", `"stale"`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, data, body)

	resp, _ = get("/../disk.img/../../etc/passwd")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = get("/")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "a directory is not served")

	_, body = get("/__bytes")
	require.Equal(t, fmt.Sprintf("%d\n", 65536+10+len(data)), string(body))
	_, body = get("/__bytes")
	require.Equal(t, "0\n", string(body))
}
