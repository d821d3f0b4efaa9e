package unet_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// httpServe serves h on a unet listener on s until the test ends.
func httpServe(t *testing.T, s *unet.Stack, h http.Handler) (addr string, stop func()) {
	t.Helper()
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		srv.Close()
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	}
}

// TestHTTP runs net/http over unet on both ends: http.Serve on a unet
// listener, an http.Client whose transport dials with the Stack, 1,000
// requests over one keep-alive connection and 1,000 from 50 concurrent
// clients, each body checked; afterwards no goroutine and no fd is left.
// It runs on a Stack with its own poller and on one bound to an
// eloop.Loop.
func TestHTTP(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		for _, onLoop := range []bool{false, true} {
			name := "poller"
			if onLoop {
				name = "loop"
			}
			t.Run(name, func(t *testing.T) { testHTTP(t, k, onLoop) })
		}
	})
}

func testHTTP(t *testing.T, k sys.Kernel, onLoop bool) {
	kerneltest.CheckFDs(t, k)
	goroutines0 := goleak.IgnoreCurrent()
	var loop *eloop.Loop
	var stopLoop func()
	if onLoop {
		loop, stopLoop = startLoop(t, k)
	}
	s, err := unet.New(k, unet.Options{Loop: loop})
	require.NoError(t, err)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%d|%s", r.URL.Path, n*2, body)
	})
	addr, stop := httpServe(t, s, handler)
	cases := []struct {
		name    string
		clients int
		total   int
	}{
		{"keepalive", 1, 1000},
		{"concurrent-50", 50, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{DialContext: s.DialContext, MaxIdleConnsPerHost: tc.clients}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: failAfter}
			var wg sync.WaitGroup
			errs := make(chan error, tc.clients)
			for c := range tc.clients {
				wg.Go(func() {
					for i := c; i < tc.total; i += tc.clients {
						body := strconv.Itoa(i * 7)
						resp, err := client.Post(fmt.Sprintf("http://%s/p%d?n=%d", addr, i, i), "text/plain", stringsReader(body))
						if err != nil {
							errs <- err
							return
						}
						got, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						want := fmt.Sprintf("/p%d|%d|%s", i, i*2, body)
						if err != nil || string(got) != want {
							errs <- fmt.Errorf("request %d: body %q, %v; want %q", i, got, err, want)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
	stop()
	require.NoError(t, s.Close())
	if stopLoop != nil {
		stopLoop()
	}
	require.NoError(t, goleak.Find(goroutines0))
}

func stringsReader(s string) io.Reader { return &sreader{s: s} }

type sreader struct{ s string }

func (r *sreader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}
