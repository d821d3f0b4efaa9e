package httpdisk

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures Open. The zero value works.
type Options struct {
	// Client sends the requests. Nil means a client of the device's own
	// (a clone of http.DefaultTransport keeping up to 64 idle connections),
	// whose idle connections Close closes. A caller's client is used as it
	// is and never closed.
	Client *http.Client

	// Header is added to every request (for example an Authorization
	// header). Range, If-Range and Accept-Encoding are set by the device.
	Header http.Header

	// BlockSize is the unit of the cache and of every request, in bytes: a
	// power of two from 4 KiB to 16 MiB. 0 means 256 KiB.
	BlockSize int

	// CacheSize bounds the bytes held in cached blocks. 0 means 64 MiB. It
	// is raised to hold at least twice the read-ahead window.
	CacheSize int64

	// ReadAhead is the largest window, in bytes, that a sequential reader
	// fetches ahead of itself. The window grows with the length of the
	// sequential run (a few small consecutive reads fetch little), and
	// blocks ahead are fetched in one request once half of the window is
	// missing. 0 means 8 MiB; a negative value turns read-ahead off.
	ReadAhead int64

	// MaxRequest bounds the bytes one request asks for: a longer run of
	// missing blocks (read-ahead, or a large read) is split into requests
	// sent in parallel, over one connection each. 0 means 2 MiB.
	MaxRequest int64

	// Parallel bounds the requests under way at once (read-ahead, and
	// the pieces of a large read, wait for a turn). 0 means 16.
	Parallel int

	// Retries is how many times a request that failed transiently (a
	// connection error, a timeout, a 408/429/5xx answer, a short body) is
	// sent again before the read fails. 0 means 4; negative means none.
	Retries int

	// Backoff is the delay before the first retry; each later retry waits
	// twice as long (with jitter), up to 2 s. 0 means 50 ms.
	Backoff time.Duration

	// Timeout bounds each request, from sending it to the last byte of its
	// body. 0 means 30 s.
	Timeout time.Duration
}

// Stats counts a device's traffic since Open (the first request, which
// Open sends, included).
type Stats struct {
	BytesFetched int64 // response body bytes received, read-ahead and retried ones included
	Requests     int64 // GET requests sent, retries included
	Retries      int64 // requests sent again after a transient failure
	Hits         int64 // block lookups answered from the cache or by a request already under way
	Misses       int64 // block lookups that started a request
}

// A Device is a read-only disk image served over HTTP(S). Its methods are
// safe for concurrent use. Create one with Open.
type Device struct {
	url        string // the URL requests go to
	name       string // the URL without its query (presigned URLs carry credentials), for errors
	client     *http.Client
	ownClient  bool
	header     http.Header
	size       int64
	etag       string // validators from the first response
	lastMod    string
	ifRange    string // sent as If-Range: the strong ETag, else Last-Modified
	bs         int64  // block size
	shift      uint   // log2(bs)
	window     int64  // read-ahead window, in blocks
	maxRequest int64  // bytes
	retries    int
	backoff    time.Duration
	timeout    time.Duration

	turns  chan struct{}   // one token per request under way (Options.Parallel)
	ctx    context.Context // cancelled by Close: stops every request
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetch goroutines

	mu        sync.Mutex
	blocks    map[int64]*block // loading and loaded blocks
	lru       list.List        // loaded blocks, most recently used first
	free      [][]byte         // buffers of evicted blocks, for reuse
	maxBlocks int
	closed    bool
	broken    error // sticky: the image changed; every later read fails
	next      int64 // where a sequential reader reads next
	streak    int64 // bytes read sequentially so far

	fetched, requests, retried, hits, misses atomic.Int64
}

// A block is one BlockSize piece of the image, loading or loaded. data and
// err are set before done is closed and never change afterwards.
type block struct {
	idx  int64
	data []byte
	err  error
	done chan struct{}
	elem *list.Element // in Device.lru once loaded; guarded by Device.mu
	// refs counts the readers that may still copy from data: taken in
	// acquire under Device.mu, dropped after the copy. An evicted block's
	// buffer is reused only when no reader holds it.
	refs atomic.Int32
}

const (
	defaultBlockSize  = 256 << 10
	defaultCacheSize  = 64 << 20
	defaultReadAhead  = 8 << 20
	defaultMaxRequest = 2 << 20
	defaultRetries    = 4
	defaultBackoff    = 50 * time.Millisecond
	maxBackoff        = 2 * time.Second
	defaultTimeout    = 30 * time.Second
)

// Open opens the image at rawURL (http:// or https://) for reading. It
// sends one ranged GET for the first block, which tells the image's size
// and validators and fills the cache with the block; ctx bounds that
// request (with its retries). Open fails with an error wrapping
// ErrNoRanges when the server answers with the whole body instead of a
// range, and with a *StatusError for an HTTP error such as 404.
func Open(ctx context.Context, rawURL string, opts Options) (*Device, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("httpdisk: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("httpdisk: URL scheme %q: want http or https", u.Scheme)
	}
	d := &Device{url: rawURL, name: redact(u), header: opts.Header, blocks: make(map[int64]*block)}
	if err := d.configure(opts); err != nil {
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if err := d.open(ctx); err != nil {
		d.cancel()
		if d.ownClient {
			d.client.CloseIdleConnections()
		}
		return nil, err
	}
	return d, nil
}

// redact returns u without its query and user information, which may hold
// credentials (a presigned URL's signature), for error messages.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery, c.User, c.Fragment = "", false, nil, ""
	return c.String()
}

func (d *Device) configure(opts Options) error {
	d.client = opts.Client
	if d.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		d.client = &http.Client{Transport: t}
		d.ownClient = true
	}
	d.bs = defaultBlockSize
	if opts.BlockSize != 0 {
		bs := opts.BlockSize
		if bs < 4<<10 || bs > 16<<20 || bs&(bs-1) != 0 {
			return fmt.Errorf("httpdisk: block size %d: want a power of two from 4 KiB to 16 MiB", bs)
		}
		d.bs = int64(bs)
	}
	for 1<<d.shift < d.bs {
		d.shift++
	}
	ra := opts.ReadAhead
	if ra == 0 {
		ra = defaultReadAhead
	}
	if ra > 0 {
		d.window = max(1, ra/d.bs)
	}
	d.maxRequest = opts.MaxRequest
	if d.maxRequest <= 0 {
		d.maxRequest = defaultMaxRequest
	}
	cache := opts.CacheSize
	if cache == 0 {
		cache = defaultCacheSize
	}
	if cache < 0 {
		return fmt.Errorf("httpdisk: cache size %d is negative", cache)
	}
	d.maxBlocks = int(max(cache/d.bs, 2*d.window, 2))
	if opts.Parallel < 0 {
		return fmt.Errorf("httpdisk: Parallel %d is negative", opts.Parallel)
	}
	d.turns = make(chan struct{}, cmp.Or(opts.Parallel, 16))
	d.retries = opts.Retries
	if d.retries == 0 {
		d.retries = defaultRetries
	} else if d.retries < 0 {
		d.retries = 0
	}
	d.backoff = cmpOr(opts.Backoff, defaultBackoff)
	d.timeout = cmpOr(opts.Timeout, defaultTimeout)
	return nil
}

func cmpOr(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// Size returns the image's size in bytes.
func (d *Device) Size() int64 { return d.size }

// ReadOnly reports true: the device never writes.
func (d *Device) ReadOnly() bool { return true }

// Flush returns nil: there is nothing to write back. After Close it
// returns an error wrapping ErrClosed.
func (d *Device) Flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("httpdisk: flush %s: %w", d.name, ErrClosed)
	}
	return nil
}

// WriteAt refuses: it returns an error wrapping ErrReadOnly.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	return 0, fmt.Errorf("httpdisk: write %d bytes at %d to %s: %w", len(p), off, d.name, ErrReadOnly)
}

// ETag returns the image's ETag as the server first sent it ("" if none).
func (d *Device) ETag() string { return d.etag }

// Stats returns the device's traffic counters.
func (d *Device) Stats() Stats {
	return Stats{
		BytesFetched: d.fetched.Load(),
		Requests:     d.requests.Load(),
		Retries:      d.retried.Load(),
		Hits:         d.hits.Load(),
		Misses:       d.misses.Load(),
	}
}

// Close stops every request under way (reads waiting on them fail with an
// error wrapping ErrClosed), waits for the device's goroutines to end and
// drops the cache. A second Close returns ErrClosed.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return fmt.Errorf("httpdisk: close %s: %w", d.name, ErrClosed)
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	d.mu.Lock()
	clear(d.blocks)
	d.lru.Init()
	d.free = nil
	d.mu.Unlock()
	if d.ownClient {
		d.client.CloseIdleConnections()
	}
	return nil
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt: fewer bytes only with
// an error, io.EOF at the end of the image. It blocks until the blocks it
// needs have arrived (each request bounded by Options.Timeout and
// Options.Retries) and never holds up reads of other blocks.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("httpdisk: read at %d: negative offset", off)
	}
	if off >= d.size {
		return 0, io.EOF
	}
	end := off + int64(len(p))
	var eof error
	if end > d.size {
		end, eof = d.size, io.EOF
	}
	if end == off {
		return 0, nil
	}
	blks, err := d.acquire(off, end, false)
	if err != nil {
		return 0, err
	}
	n, err := d.copyOut(blks, p, off, end)
	if err != nil {
		return n, err
	}
	return n, eof
}

// TryReadAt reads len(p) bytes at off if every block they lie in is
// cached, and reports whether it did (disk.TryReader). It never waits for
// the network: a read that needs a block not yet arrived returns false
// and changes nothing, and the caller reads with ReadAt. A read that it
// serves counts in the sequential run as ReadAt's do, and starts the
// read-ahead ReadAt would. A read past the end, or of a closed or broken
// device, returns false (ReadAt gives its error).
func (d *Device) TryReadAt(p []byte, off int64) (int, bool) {
	end := off + int64(len(p))
	if off < 0 || end > d.size || end == off {
		return 0, false
	}
	blks, err := d.acquire(off, end, true)
	if err != nil || blks == nil {
		return 0, false
	}
	n, err := d.copyOut(blks, p, off, end)
	return n, err == nil
}

// copyOut waits for blks, the blocks covering [off, end), copies their
// bytes into p and drops the references acquire took.
func (d *Device) copyOut(blks []*block, p []byte, off, end int64) (int, error) {
	n := 0
	var err error
	for _, b := range blks {
		if err == nil {
			<-b.done
			if err = b.err; err == nil {
				bstart := b.idx << d.shift
				from := max(off, bstart) - bstart
				to := min(end, bstart+int64(len(b.data))) - bstart
				n += copy(p[n:], b.data[from:to])
			}
		}
		b.refs.Add(-1)
	}
	return n, err
}

// acquire returns the blocks covering [off, end), starting requests for
// the missing ones and, for a sequential reader, for the blocks ahead.
// With only, it does so only if every one of them has arrived, and else
// returns no blocks and changes nothing.
func (d *Device) acquire(off, end int64, only bool) ([]*block, error) {
	first, last := off>>d.shift, (end-1)>>d.shift
	nblocks := (d.size + d.bs - 1) >> d.shift
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("httpdisk: read %s: %w", d.name, ErrClosed)
	}
	if d.broken != nil {
		return nil, d.broken
	}
	if only {
		for i := first; i <= last; i++ {
			if b := d.blocks[i]; b == nil || b.elem == nil { // missing or loading
				return nil, nil
			}
		}
	}
	if off == d.next {
		d.streak += end - off
	} else {
		d.streak = end - off
	}
	d.next = end
	blks := make([]*block, 0, last-first+1)
	var missing []*block
	for i := first; i <= last; i++ {
		if b := d.blocks[i]; b != nil {
			b.refs.Add(1)
			d.hits.Add(1)
			if b.elem != nil {
				d.lru.MoveToFront(b.elem)
			}
			blks = append(blks, b)
			continue
		}
		d.misses.Add(1)
		b := &block{idx: i, done: make(chan struct{})}
		b.refs.Add(1)
		d.blocks[i] = b
		blks = append(blks, b)
		missing = append(missing, b)
	}
	// Read-ahead: the window grows with the sequential run (its length
	// in blocks, rounded up) up to d.window, so scattered metadata reads
	// fetch nothing extra. Blocks ahead are requested once half of the
	// window is missing, so each request is large.
	if ahead := min(d.window, (d.streak+d.bs-1)>>d.shift); ahead > 0 && d.streak > end-off {
		var want []int64
		for i := last + 1; i <= last+ahead && i < nblocks; i++ {
			if d.blocks[i] == nil {
				want = append(want, i)
			}
		}
		if len(want) > 0 && int64(len(want)) >= (ahead+1)/2 {
			for _, i := range want {
				b := &block{idx: i, done: make(chan struct{})}
				d.blocks[i] = b
				missing = append(missing, b)
			}
		}
	}
	// One request per run of consecutive missing blocks, split into
	// pieces of at most maxRequest bytes fetched in parallel (one
	// connection each), so one TCP stream does not bound a sequential
	// reader.
	maxRun := int(max(1, d.maxRequest>>d.shift))
	for len(missing) > 0 {
		n := 1
		for n < len(missing) && n < maxRun && missing[n].idx == missing[n-1].idx+1 {
			n++
		}
		d.wg.Add(1)
		go d.fetch(missing[:n:n])
		missing = missing[n:]
	}
	return blks, nil
}

// complete stores a block's data and makes it evictable.
func (d *Device) complete(b *block, data []byte) {
	d.mu.Lock()
	b.data = data
	if d.blocks[b.idx] == b && !d.closed {
		b.elem = d.lru.PushFront(b)
		for d.lru.Len() > d.maxBlocks {
			old := d.lru.Remove(d.lru.Back()).(*block)
			old.elem = nil
			delete(d.blocks, old.idx)
			if old.refs.Load() == 0 && cap(old.data) == int(d.bs) && len(d.free) < 64 {
				d.free = append(d.free, old.data[:cap(old.data)])
			}
		}
	}
	d.mu.Unlock()
	close(b.done)
}

// buffer returns a buffer for block idx: an evicted block's when one is
// free (fresh memory costs page faults, measured in the benchmark).
func (d *Device) buffer(idx int64) []byte {
	n := min(d.bs, d.size-idx<<d.shift)
	d.mu.Lock()
	var b []byte
	if k := len(d.free); k > 0 {
		b, d.free = d.free[k-1], d.free[:k-1]
	}
	d.mu.Unlock()
	if b == nil {
		b = make([]byte, d.bs)
	}
	return b[:n]
}

// fail ends blks with err; later reads of them try again, unless the
// error is ErrChanged, which breaks the device for good.
func (d *Device) fail(blks []*block, err error) {
	d.mu.Lock()
	if errors.Is(err, ErrChanged) && d.broken == nil {
		d.broken = err
	}
	for _, b := range blks {
		b.err = err
		if d.blocks[b.idx] == b {
			delete(d.blocks, b.idx)
		}
	}
	d.mu.Unlock()
	for _, b := range blks {
		close(b.done)
	}
}
