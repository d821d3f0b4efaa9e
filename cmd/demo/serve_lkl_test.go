//go:build lkl

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
)

// serveTree is the image demo serve is tested on.
var serveTree = imagetest.Tree{
	"hello.txt":      "hello from inside the image, through LKL\n",
	"docs/notes.txt": "notes\n",
	"body.bin":       string(serveBody()),
}

// serveBody is body.bin's content: 1 KiB of a pattern.
func serveBody() []byte {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// startServe runs "demo serve IMAGE -listen 127.0.0.1:0" in a child that
// checks for leaked goroutines and fds when it stops; the child is stopped
// with SIGTERM when the test ends and must exit with status 0. It returns
// the URL of the image's root.
func startServe(t *testing.T, img string, args ...string) string {
	t.Helper()
	addr := startDemoChild(t, []string{"DEMO_CHECK_LEAKS=1"},
		append([]string{"serve", img, "-listen", "127.0.0.1:0"}, args...)...)
	return "http://" + addr + "/"
}

// get fetches url with client and returns the body of a 200 answer.
func get(client *http.Client, url string) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}

// TestServe serves images of several file systems and fetches them
// through the port forward with the standard library's client: the
// listing, a file, a missing file, then 1,000 requests from 50 concurrent
// clients with every body checked. SIGTERM then stops the server cleanly,
// leaving no goroutine or fd behind (DEMO_CHECK_LEAKS).
func TestServe(t *testing.T) {
	for _, fstype := range []string{"ext4", "xfs", "vfat"} {
		t.Run(fstype, func(t *testing.T) {
			url := startServe(t, imagetest.Build(t, fstype, serveTree), "-fstype", fstype)
			client := &http.Client{Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()

			listing, err := get(client, url)
			require.NoError(t, err)
			for _, name := range []string{"hello.txt", "docs/", "body.bin"} {
				require.Contains(t, string(listing), `<a href="`+name+`">`+name+`</a>`)
			}
			b, err := get(client, url+"hello.txt")
			require.NoError(t, err)
			require.Equal(t, serveTree["hello.txt"], string(b))
			b, err = get(client, url+"docs/notes.txt")
			require.NoError(t, err)
			require.Equal(t, "notes\n", string(b))
			_, err = get(client, url+"nope")
			require.ErrorContains(t, err, "404 Not Found")

			const requests, clients = 1000, 50
			want := serveBody()
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for c := range clients {
				wg.Go(func() {
					client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
					defer client.CloseIdleConnections()
					for range requests / clients {
						b, err := get(client, url+"body.bin")
						if err == nil && !bytes.Equal(b, want) {
							err = fmt.Errorf("client %d: body of %d bytes differs from the file", c, len(b))
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
		})
	}
}

// TestServeGet fetches one file with demo serve -get.
func TestServeGet(t *testing.T) {
	img := imagetest.Build(t, "ext4", serveTree)
	stdout, stderr, code := demo(t, nil, "serve", img, "-listen", "127.0.0.1:0", "-get", "/hello.txt")
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, "GET /hello.txt: 200 OK, 41 bytes from LKL through the port forward\nhello from inside the image")
	_, stderr, code = demo(t, nil, "serve", img, "-listen", "127.0.0.1:0", "-get", "/nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "404 Not Found")
}

// TestServeChromium opens the served image in a real browser, headless
// Chromium (Debian's chromium package; .ci/run installs it): the DOM of
// the listing and of a file, and a screenshot of the listing, saved in
// $DEMO_SCREENSHOT_DIR if set (else in the test's temporary directory).
func TestServeChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("headless Chromium is needed: install Debian's chromium package (apt-get install chromium; .ci/run does): %v", err)
	}
	url := startServe(t, imagetest.Build(t, "ext4", serveTree))
	browse := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + t.TempDir()}, args...)
		cmd := exec.CommandContext(ctx, chromium, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "chromium %s: %s", strings.Join(args, " "), stderr.String())
		return string(out)
	}

	dom := browse("--dump-dom", url)
	require.Contains(t, dom, `<a href="hello.txt">hello.txt</a>`)
	require.Contains(t, dom, `<a href="docs/">docs/</a>`)
	dom = browse("--dump-dom", url+"hello.txt")
	require.Contains(t, dom, serveTree["hello.txt"])

	dir := os.Getenv("DEMO_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	png := filepath.Join(dir, "demo-serve.png")
	os.Remove(png)
	browse("--screenshot="+png, "--window-size=1024,768", url)
	b, err := os.ReadFile(png)
	require.NoError(t, err)
	require.Greater(t, len(b), 1000, "a screenshot of a page")
	require.Equal(t, []byte("\x89PNG\r\n\x1a\n"), b[:8], "a PNG")
	t.Logf("screenshot of %s: %s (%d bytes)", url, png, len(b))
}
