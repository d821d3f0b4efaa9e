package httpdisk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/disk/httpdisk"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server serves an image with http.ServeContent (ranges, If-Range, ETag)
// and injects faults.
type server struct {
	mu      sync.Mutex
	content io.ReadSeeker
	etag    string                   // sent as ETag unless empty
	modTime time.Time                // sent as Last-Modified unless zero
	noRange bool                     // answer with the whole body, ignoring Range
	status  int                      // answer every request with this status
	cutAt   int                      // > 0: abort the body after this many bytes ...
	cuts    int                      // ... for this many responses (-1: all)
	gate    map[string]chan struct{} // Range header → closed when the request may proceed
	hold    chan struct{}            // if set, every request waits until it is closed

	requests atomic.Int64
	ranges   sync.Map     // Range header → *atomic.Int64 count
	active   atomic.Int64 // requests being served
}

func newServer(t testing.TB, data []byte) (*server, *httptest.Server) {
	s := &server{content: bytes.NewReader(data), etag: `"v1"`}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.active.Add(1)
	defer s.active.Add(-1)
	rng := r.Header.Get("Range")
	c, _ := s.ranges.LoadOrStore(rng, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
	s.mu.Lock()
	gate := s.gate[rng]
	if s.hold != nil {
		gate = s.hold
	}
	content, etag, modTime, noRange, status := s.content, s.etag, s.modTime, s.noRange, s.status
	cut := 0
	if s.cuts != 0 {
		cut = s.cutAt
		if s.cuts > 0 {
			s.cuts--
		}
	}
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if noRange {
		io.Copy(w, content)
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	if cut > 0 {
		w = &cutWriter{ResponseWriter: w, left: cut}
	}
	// content is shared: serve a private reader over it.
	s.mu.Lock()
	size, _ := content.Seek(0, io.SeekEnd)
	s.mu.Unlock()
	http.ServeContent(w, r, "disk.img", modTime, io.NewSectionReader(readerAt{s, content}, 0, size))
}

// readerAt serializes ReadAt on a shared io.ReadSeeker.
type readerAt struct {
	s *server
	r io.ReadSeeker
}

func (ra readerAt) ReadAt(p []byte, off int64) (int, error) {
	ra.s.mu.Lock()
	defer ra.s.mu.Unlock()
	if _, err := ra.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(ra.r, p)
}

// cutWriter aborts the response (the connection is dropped) after left
// bytes of body.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) >= c.left {
		c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}

func (s *server) set(f func(s *server)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *server) count(rng string) int64 {
	if c, ok := s.ranges.Load(rng); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1, byte(n), byte(n >> 8), byte(n >> 16)}).Read(b)
	return b
}

func open(t testing.TB, url string, opts httpdisk.Options) *httpdisk.Device {
	t.Helper()
	d, err := httpdisk.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

const bs = 64 << 10

func TestReadAt(t *testing.T) {
	data := randomData(3*bs*5 + 1234) // not a multiple of the block size
	_, ts := newServer(t, data)
	d := open(t, ts.URL, httpdisk.Options{BlockSize: bs})
	if d.Size() != int64(len(data)) {
		t.Fatalf("Size = %d, want %d", d.Size(), len(data))
	}
	size := int64(len(data))
	tests := []struct {
		name    string
		off     int64
		n       int
		wantN   int
		wantErr error
	}{
		{"first sector", 0, 512, 512, nil},
		{"inside a block", 1000, 3000, 3000, nil},
		{"across blocks", bs - 100, 3 * bs, 3 * bs, nil},
		{"last bytes", size - 1234, 1234, 1234, nil},
		{"past the end", size - 100, 512, 100, io.EOF},
		{"at the end", size, 512, 0, io.EOF},
		{"empty", 77, 0, 0, nil},
		{"whole image", 0, int(size), int(size), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := make([]byte, tc.n)
			n, err := d.ReadAt(p, tc.off)
			if n != tc.wantN || err != tc.wantErr {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d, %v", tc.n, tc.off, n, err, tc.wantN, tc.wantErr)
			}
			if !bytes.Equal(p[:n], data[tc.off:tc.off+int64(n)]) {
				t.Fatalf("ReadAt(%d bytes at %d): data differs from the image", tc.n, tc.off)
			}
		})
	}
	if _, err := d.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt at -1: no error")
	}
	if _, err := d.WriteAt([]byte{1}, 0); !errors.Is(err, httpdisk.ErrReadOnly) {
		t.Errorf("WriteAt: %v, want ErrReadOnly", err)
	}
	if !d.ReadOnly() || d.Flush() != nil || d.ETag() != `"v1"` {
		t.Errorf("ReadOnly %v, Flush %v, ETag %q", d.ReadOnly(), d.Flush(), d.ETag())
	}
}

// TestParallel: a read of 32 blocks, one request each, keeps at most
// Options.Parallel requests under way: with the server holding every
// request, the third never arrives.
func TestParallel(t *testing.T) {
	data := randomData(64 * 4096)
	s, ts := newServer(t, data)
	d := open(t, ts.URL, httpdisk.Options{BlockSize: 4096, MaxRequest: 4096, Parallel: 2})
	hold := make(chan struct{})
	s.set(func(s *server) { s.hold = hold })
	done := make(chan error)
	p := make([]byte, 32*4096)
	go func() {
		_, err := d.ReadAt(p, 16*4096)
		done <- err
	}()
	for s.active.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // time for a third request to arrive, if one were sent
	if n := s.active.Load(); n != 2 {
		t.Errorf("%d requests under way, want Parallel = 2", n)
	}
	close(hold)
	if err := <-done; err != nil || !bytes.Equal(p, data[16*4096:48*4096]) {
		t.Fatalf("ReadAt of 32 blocks: %v", err)
	}
}

func TestDroppedConnections(t *testing.T) {
	data := randomData(8 * bs)
	s, ts := newServer(t, data)
	d := open(t, ts.URL, httpdisk.Options{BlockSize: bs, Retries: 3, Backoff: time.Millisecond, ReadAhead: -1})

	// Two responses cut mid-body: the third attempt succeeds.
	s.set(func(s *server) { s.cutAt, s.cuts = 1000, 2 })
	p := make([]byte, 2*bs)
	if _, err := d.ReadAt(p, 2*bs); err != nil {
		t.Fatalf("ReadAt after 2 dropped connections: %v", err)
	}
	if !bytes.Equal(p, data[2*bs:4*bs]) {
		t.Fatal("data read after retries differs from the image")
	}
	if st := d.Stats(); st.Retries != 2 {
		t.Errorf("Stats().Retries = %d, want 2", st.Retries)
	}

	// Every response cut: the read fails after 1 + 3 attempts.
	s.set(func(s *server) { s.cutAt, s.cuts = 1000, -1 })
	before := s.requests.Load()
	_, err := d.ReadAt(p[:bs], 6*bs)
	if err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("ReadAt with every connection dropped: %v; want an error after 4 attempts", err)
	}
	if got := s.requests.Load() - before; got != 4 {
		t.Errorf("%d requests for a read that always fails, want 4", got)
	}

	// The server heals: the block is fetched again, not remembered as failed.
	s.set(func(s *server) { s.cuts = 0 })
	if _, err := d.ReadAt(p[:bs], 6*bs); err != nil || !bytes.Equal(p[:bs], data[6*bs:7*bs]) {
		t.Fatalf("ReadAt after the server healed: %v", err)
	}
}

func TestServerErrors(t *testing.T) {
	data := randomData(4 * bs)
	s, ts := newServer(t, data)
	d := open(t, ts.URL, httpdisk.Options{BlockSize: bs, Retries: 2, Backoff: time.Millisecond, ReadAhead: -1})
	p := make([]byte, bs)

	s.set(func(s *server) { s.status = http.StatusServiceUnavailable })
	before := s.requests.Load()
	_, err := d.ReadAt(p, bs)
	var se *httpdisk.StatusError
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("ReadAt from a server answering 503: %v; want a *StatusError 503", err)
	}
	if got := s.requests.Load() - before; got != 3 {
		t.Errorf("503 answered %d requests, want 3 (1 + 2 retries)", got)
	}

	s.set(func(s *server) { s.status = http.StatusForbidden })
	before = s.requests.Load()
	_, err = d.ReadAt(p, bs)
	if !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("ReadAt from a server answering 403: %v; want a *StatusError 403", err)
	}
	if got := s.requests.Load() - before; got != 1 {
		t.Errorf("403 answered %d requests, want 1 (not retried)", got)
	}
}

func TestTimeout(t *testing.T) {
	data := randomData(4 * bs)
	s, ts := newServer(t, data)
	d := open(t, ts.URL, httpdisk.Options{BlockSize: bs, Retries: 1, Backoff: time.Millisecond, Timeout: 50 * time.Millisecond, ReadAhead: -1})
	s.set(func(s *server) {
		s.gate = map[string]chan struct{}{fmt.Sprintf("bytes=%d-%d", bs, 2*bs-1): make(chan struct{})}
	})
	_, err := d.ReadAt(make([]byte, bs), bs)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadAt from a server that never answers: %v; want a deadline error", err)
	}
}

func TestChanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *server)
	}{
		{"ETag", func(s *server) { s.etag = `"v2"` }},
		{"Last-Modified", func(s *server) { s.modTime = s.modTime.Add(time.Hour) }},
		{"size", func(s *server) { s.content = bytes.NewReader(randomData(5 * bs)) }}, // same ETag, new size
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := randomData(4 * bs)
			s, ts := newServer(t, data)
			if tc.name == "Last-Modified" {
				s.etag, s.modTime = "", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			}
			d := open(t, ts.URL, httpdisk.Options{BlockSize: bs, ReadAhead: -1})
			p := make([]byte, bs)
			s.set(func(s *server) {
				s.content = bytes.NewReader(bytes.Repeat([]byte{0xee}, 4*bs))
				tc.change(s)
			})
			_, err := d.ReadAt(p, 2*bs)
			if !errors.Is(err, httpdisk.ErrChanged) {
				t.Fatalf("ReadAt after the image changed: %v; want ErrChanged", err)
			}
			// Block 0 is cached from Open, but the device stays broken.
			if _, err := d.ReadAt(p, 0); !errors.Is(err, httpdisk.ErrChanged) {
				t.Fatalf("ReadAt of a cached block after a change: %v; want ErrChanged", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name     string
		set      func(s *server)
		wantIs   error
		wantCode int
	}{
		{"not found", func(s *server) { s.status = http.StatusNotFound }, nil, 404},
		{"no ranges", func(s *server) { s.noRange = true }, httpdisk.ErrNoRanges, 0},
		{"range not satisfiable", func(s *server) { s.status = http.StatusRequestedRangeNotSatisfiable }, nil, 416},
		{"empty image", func(s *server) { s.content = bytes.NewReader(nil) }, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ts := newServer(t, randomData(bs))
			s.set(tc.set)
			d, err := httpdisk.Open(context.Background(), ts.URL+"/disk.img?X-Amz-Signature=secret", httpdisk.Options{})
			if err == nil {
				d.Close()
				t.Fatal("Open: no error")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the URL's query", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Open: %v; want %v", err, tc.wantIs)
			}
			var se *httpdisk.StatusError
			if tc.wantCode != 0 && (!errors.As(err, &se) || se.Code != tc.wantCode) {
				t.Errorf("Open: %v; want a *StatusError %d", err, tc.wantCode)
			}
		})
	}
	t.Run("bad scheme", func(t *testing.T) {
		if _, err := httpdisk.Open(context.Background(), "ftp://x/y", httpdisk.Options{}); err == nil {
			t.Error("Open(ftp://): no error")
		}
	})
	t.Run("bad block size", func(t *testing.T) {
		if _, err := httpdisk.Open(context.Background(), "http://127.0.0.1/", httpdisk.Options{BlockSize: 5000}); err == nil {
			t.Error("Open with block size 5000: no error")
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ts := httptest.NewServer(http.NotFoundHandler())
		url := ts.URL + "/?sig=secret"
		ts.Close()
		_, err := httpdisk.Open(context.Background(), url, httpdisk.Options{Retries: 1, Backoff: time.Millisecond})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open of a closed server: %v; want an error without the query", err)
		}
	})
}

// TestConcurrent reads random ranges from 64 goroutines through a cache
// too small for the image, so blocks are evicted and fetched again.
func TestConcurrent(t *testing.T) {
	data := randomData(64 * 4096)
	_, ts := newServer(t, data)
	d := open(t, ts.URL, httpdisk.Options{BlockSize: 4096, CacheSize: 16 * 4096, ReadAhead: 4 * 4096})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 2))
			p := make([]byte, 3*4096)
			for range 50 {
				off := r.Int64N(int64(len(data)))
				n := r.IntN(len(p)) + 1
				got, err := d.ReadAt(p[:n], off)
				if err != nil && err != io.EOF {
					errs <- err
					return
				}
				if !bytes.Equal(p[:got], data[off:off+int64(got)]) {
					errs <- fmt.Errorf("%d bytes at %d differ from the image", got, off)
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
}

// TestCoalesce: concurrent misses of one block send one request, and a
// slow request does not hold up reads of other blocks.
func TestCoalesce(t *testing.T) {
	data := randomData(8 * bs)
	s, ts := newServer(t, data)
	d := open(t, ts.URL, httpdisk.Options{BlockSize: bs, ReadAhead: -1})
	slow := fmt.Sprintf("bytes=%d-%d", 5*bs, 6*bs-1)
	release := make(chan struct{})
	s.set(func(s *server) { s.gate = map[string]chan struct{}{slow: release} })

	before := d.Stats()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			p := make([]byte, 512)
			if _, err := d.ReadAt(p, 5*bs+100); err != nil || !bytes.Equal(p, data[5*bs+100:5*bs+612]) {
				errs <- fmt.Errorf("ReadAt of the slow block: %v", err)
			}
		})
	}
	// Wait until the 16 readers have looked the block up.
	for st := d.Stats(); st.Hits+st.Misses < before.Hits+before.Misses+16; st = d.Stats() {
		time.Sleep(time.Millisecond)
	}
	// The slow block's request is still held; another block reads fine.
	p := make([]byte, bs)
	if _, err := d.ReadAt(p, 2*bs); err != nil || !bytes.Equal(p, data[2*bs:3*bs]) {
		t.Fatalf("ReadAt of another block while one is slow: %v", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.count(slow); n != 1 {
		t.Errorf("16 concurrent reads of one block sent %d requests, want 1", n)
	}
}

func TestClose(t *testing.T) {
	data := randomData(4 * bs)
	s, ts := newServer(t, data)
	d, err := httpdisk.Open(context.Background(), ts.URL, httpdisk.Options{BlockSize: bs, ReadAhead: -1})
	if err != nil {
		t.Fatal(err)
	}
	s.set(func(s *server) {
		s.gate = map[string]chan struct{}{fmt.Sprintf("bytes=%d-%d", bs, 2*bs-1): make(chan struct{})}
	})
	done := make(chan error)
	go func() {
		_, err := d.ReadAt(make([]byte, 10), bs)
		done <- err
	}()
	for d.Stats().Requests < 2 {
		time.Sleep(time.Millisecond)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, httpdisk.ErrClosed) {
		t.Errorf("ReadAt interrupted by Close: %v; want ErrClosed", err)
	}
	if _, err := d.ReadAt(make([]byte, 10), 0); !errors.Is(err, httpdisk.ErrClosed) {
		t.Errorf("ReadAt after Close: %v; want ErrClosed", err)
	}
	if err := d.Close(); !errors.Is(err, httpdisk.ErrClosed) {
		t.Errorf("second Close: %v; want ErrClosed", err)
	}
}

// TestFetchBudget replays the reads a mount and a listing of the root of
// a 1 GiB ext4 image make (superblock, group descriptors, bitmaps, the
// inode table's first blocks, the journal's superblock in the middle of
// the disk, the root directory's block) and checks that the device
// fetches at most 4 MiB for them; then that a sequential read is served
// by large read-ahead requests.
func TestFetchBudget(t *testing.T) {
	const size = 1 << 30
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	s := &server{content: f, etag: `"img"`}
	ts := httptest.NewServer(s)
	defer ts.Close()
	d := open(t, ts.URL, httpdisk.Options{})
	reads := []struct{ off, n int64 }{
		{1024, 1024},                 // superblock
		{4096, 4096},                 // group descriptors
		{0x101000, 4096},             // block bitmap (flex_bg: group 0's bitmaps first)
		{0x111000, 4096},             // inode bitmap
		{0x121000, 4096},             // inode table: root (inode 2), journal (inode 8)
		{0x122000, 4096},             // the next inode-table block
		{512 << 20, 4096},            // journal superblock
		{512<<20 + 4096, 4096},       // journal's first block
		{0x8c1000, 4096},             // root directory
		{0x8c2000, 4096},             // lost+found
		{size - 4096, 4096},          // last block (a partition-table probe)
		{size/2 + 128<<20, 4096},     // a backup superblock group
		{0x121000 + 8*256, 256 * 16}, // more inodes
	}
	p := make([]byte, 16<<10)
	for _, r := range reads {
		if _, err := d.ReadAt(p[:r.n], r.off); err != nil {
			t.Fatalf("ReadAt(%d bytes at %#x): %v", r.n, r.off, err)
		}
	}
	st := d.Stats()
	t.Logf("metadata pattern: %d requests, %d bytes fetched", st.Requests, st.BytesFetched)
	if st.BytesFetched > 4<<20 {
		t.Errorf("reading a listing's metadata of a 1 GiB image fetched %d bytes, want ≤ 4 MiB", st.BytesFetched)
	}

	// A 32 MiB sequential read in 128 KiB pieces: 128 blocks of 256 KiB,
	// fetched in far fewer requests thanks to read-ahead.
	before := d.Stats()
	p = make([]byte, 128<<10)
	for off := int64(64 << 20); off < 96<<20; off += int64(len(p)) {
		if _, err := d.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
	st = d.Stats()
	reqs := st.Requests - before.Requests
	t.Logf("32 MiB sequential: %d requests, %d bytes fetched", reqs, st.BytesFetched-before.BytesFetched)
	if reqs > 32 {
		t.Errorf("a 32 MiB sequential read sent %d requests for 128 blocks; read-ahead should need ≤ 32", reqs)
	}
}

// BenchmarkSequentialRead reads a 256 MiB image from an httptest server
// on loopback, in 1 MiB reads, through a fresh device each time.
func BenchmarkSequentialRead(b *testing.B) {
	const size = 256 << 20
	data := randomData(size)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"bench"`)
		http.ServeContent(w, r, "disk.img", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	// One untimed pass first: the first one pays for growing the heap.
	if d, err := httpdisk.Open(context.Background(), srv.URL, httpdisk.Options{}); err == nil {
		io.Copy(io.Discard, io.NewSectionReader(d, 0, size))
		d.Close()
	}
	for _, bc := range []struct {
		name string
		opts httpdisk.Options
	}{
		{"impl=default", httpdisk.Options{}},                                           // 8 MiB ahead in 2 MiB requests in parallel
		{"impl=one-stream", httpdisk.Options{ReadAhead: 4 << 20, MaxRequest: 4 << 20}}, // one request at a time
		{"impl=block-1M", httpdisk.Options{BlockSize: 1 << 20, MaxRequest: 4 << 20}},   // fewer, larger blocks
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := make([]byte, 1<<20)
			b.SetBytes(size)
			cpu0 := cpuTime()
			for b.Loop() {
				d, err := httpdisk.Open(context.Background(), srv.URL, bc.opts)
				if err != nil {
					b.Fatal(err)
				}
				for off := int64(0); off < size; off += int64(len(p)) {
					if _, err := d.ReadAt(p, off); err != nil {
						b.Fatal(err)
					}
				}
				d.Close()
			}
			// CPU time (client and server: one process) per op: unlike
			// wall time, it says little about the other loads of a
			// shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestNoFdLeak opens, reads and closes 20 devices (each with its own
// client): once the server has seen the connections close, the process's
// open fds are as before.
func TestNoFdLeak(t *testing.T) {
	data := randomData(4 * bs)
	_, ts := newServer(t, data)
	before := openFds(t)
	for range 20 {
		d, err := httpdisk.Open(context.Background(), ts.URL, httpdisk.Options{BlockSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ReadAt(make([]byte, 2*bs), bs); err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	// The server's ends close when it reads EOF, a moment later.
	after := openFds(t)
	for deadline := time.Now().Add(10 * time.Second); after > before && time.Now().Before(deadline); after = openFds(t) {
		time.Sleep(10 * time.Millisecond)
	}
	if after != before {
		t.Errorf("%d open fds after 20 Open/Close, %d before", after, before)
	}
}

// openFds counts the process's open file descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TryReadAt serves a read from cached blocks only: a block not there (or
// still loading) gives false without a request, one that has arrived is
// copied without one; a sequential run it serves starts read-ahead as
// ReadAt's does. Past the end and after Close it declines.
func TestTryReadAt(t *testing.T) {
	data := randomData(64 * bs)
	s, ts := newServer(t, data)
	d := open(t, ts.URL, httpdisk.Options{BlockSize: bs, ReadAhead: 4 * bs, MaxRequest: 4 * bs})
	requests := func() int64 { return s.requests.Load() }

	p := make([]byte, 4096)
	before := requests()
	if n, ok := d.TryReadAt(p, 3*bs); ok || n != 0 {
		t.Fatalf("TryReadAt of an uncached block = %d, %v", n, ok)
	}
	if requests() != before {
		t.Fatal("TryReadAt of an uncached block sent a request")
	}
	// Block 0 came with Open: a read in it and across nothing else works.
	if n, ok := d.TryReadAt(p, 100); !ok || n != len(p) || !bytes.Equal(p, data[100:100+len(p)]) {
		t.Fatalf("TryReadAt in block 0 = %d, %v (or wrong bytes)", n, ok)
	}
	if _, ok := d.TryReadAt(make([]byte, 2*bs), bs/2); ok {
		t.Fatal("TryReadAt across a cached and an uncached block succeeded")
	}

	// A block still loading is not waited for.
	release := make(chan struct{})
	slow := fmt.Sprintf("bytes=%d-%d", 10*bs, 11*bs-1)
	s.set(func(s *server) { s.gate = map[string]chan struct{}{slow: release} })
	done := make(chan error, 1)
	go func() { _, err := d.ReadAt(make([]byte, 512), 10*bs); done <- err }()
	for s.count(slow) == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, ok := d.TryReadAt(p, 10*bs); ok {
		t.Fatal("TryReadAt of a block still loading succeeded")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := d.TryReadAt(p, 10*bs+512); !ok || !bytes.Equal(p, data[10*bs+512:10*bs+512+len(p)]) {
		t.Fatal("TryReadAt of a block that has arrived failed (or gave wrong bytes)")
	}

	// A sequential run: ReadAt of blocks 20, 21 starts read-ahead; once it
	// has arrived, TryReadAt serves the next blocks and fetches further
	// ahead, so the run never waits.
	for off := int64(20 * bs); off < 22*bs; off += 4096 {
		if _, err := d.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
	served := 0
	for off := int64(22 * bs); off < 40*bs; off += 4096 {
		ok := false
		for try := 0; !ok && try < 5000; try++ {
			if _, ok = d.TryReadAt(p, off); !ok {
				time.Sleep(time.Millisecond) // the read-ahead has not arrived yet
			}
		}
		if !ok {
			t.Fatalf("TryReadAt at block %d: the read-ahead never arrived", off/bs)
		}
		if !bytes.Equal(p, data[off:off+int64(len(p))]) {
			t.Fatalf("TryReadAt at %d: wrong bytes", off)
		}
		served++
	}
	if served == 0 {
		t.Fatal("no read served")
	}

	if _, ok := d.TryReadAt(make([]byte, 1024), int64(len(data))-512); ok {
		t.Error("TryReadAt past the end succeeded")
	}
	if _, ok := d.TryReadAt(nil, 0); ok {
		t.Error("TryReadAt of nothing succeeded")
	}
	d.Close()
	if _, ok := d.TryReadAt(p, 100); ok {
		t.Error("TryReadAt after Close succeeded")
	}
}
