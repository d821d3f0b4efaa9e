package httpdisk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var (
	// ErrReadOnly is wrapped by the error of every write: the device is
	// read-only. (Package disk's ErrReadOnly is a different value; disk
	// maps this one onto it.)
	ErrReadOnly = errors.New("httpdisk: read-only device")

	// ErrClosed is wrapped by the error of every call after Close, and of
	// reads that Close interrupted.
	ErrClosed = errors.New("httpdisk: device closed")

	// ErrChanged is wrapped by the error of a read that found the image
	// changed on the server since Open: a new ETag, Last-Modified or size,
	// or a server answering If-Range with the whole new body. The device
	// then stays broken: every later read fails with the same error, so
	// old cached blocks are never mixed with new ones.
	ErrChanged = errors.New("httpdisk: remote image changed")

	// ErrNoRanges is wrapped by Open's error when the server answers a
	// Range request with the whole body: the device needs byte ranges.
	ErrNoRanges = errors.New("httpdisk: server does not serve byte ranges")
)

// A StatusError is an HTTP answer the device cannot use, such as 404 Not
// Found or 403 Forbidden (an expired presigned URL).
type StatusError struct {
	URL    string // the request's URL without its query, which may hold credentials
	Code   int    // e.g. 404
	Status string // e.g. "404 Not Found"
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("httpdisk: GET %s: %s", e.URL, e.Status)
}

// transient marks an error worth a retry: a connection error, a timeout, a
// short body, a 408, 429 or 5xx answer.
type transient struct{ err error }

func (t transient) Error() string { return t.err.Error() }
func (t transient) Unwrap() error { return t.err }

// open sends the first request: bytes 0 to BlockSize-1. Its answer gives
// the size (Content-Range), the validators and block 0.
func (d *Device) open(ctx context.Context) error {
	var data []byte
	err := d.retry(ctx, func(ctx context.Context) error {
		resp, err := d.get(ctx, 0, d.bs)
		if err != nil {
			return err
		}
		defer drainClose(resp.Body)
		switch {
		case resp.StatusCode == http.StatusOK && resp.ContentLength == 0:
			return fmt.Errorf("httpdisk: GET %s: the image is empty", d.name)
		case resp.StatusCode == http.StatusOK:
			return fmt.Errorf("httpdisk: GET %s: answered a Range request with the whole body (200, Accept-Ranges: %q): %w",
				d.name, resp.Header.Get("Accept-Ranges"), ErrNoRanges)
		case resp.StatusCode != http.StatusPartialContent:
			return statusError(d.name, resp)
		}
		cr := resp.Header.Get("Content-Range")
		first, last, total, err := parseContentRange(cr)
		if err != nil {
			return fmt.Errorf("httpdisk: GET %s: %w", d.name, err)
		}
		if total < 0 {
			return fmt.Errorf("httpdisk: GET %s: Content-Range %q does not give the size", d.name, cr)
		}
		if first != 0 || last != min(d.bs, total)-1 {
			return fmt.Errorf("httpdisk: GET %s bytes 0-%d: server sent Content-Range %q", d.name, d.bs-1, cr)
		}
		data = make([]byte, last+1) // at most BlockSize: what we asked for, not what the server claims
		if _, err := io.ReadFull(countReader{resp.Body, &d.fetched}, data); err != nil {
			return transient{fmt.Errorf("httpdisk: GET %s bytes 0-%d: body: %w", d.name, last, err)}
		}
		d.size = total
		d.etag = resp.Header.Get("ETag")
		d.lastMod = resp.Header.Get("Last-Modified")
		return nil
	})
	if err != nil {
		return err
	}
	// If-Range needs a strong validator: a strong ETag, else the date.
	if d.etag != "" && !strings.HasPrefix(d.etag, "W/") {
		d.ifRange = d.etag
	} else {
		d.ifRange = d.lastMod
	}
	b := &block{idx: 0, done: make(chan struct{})}
	d.blocks[0] = b
	d.complete(b, data)
	return nil
}

// fetch reads the consecutive blocks blks with one request (more after
// transient failures, each for the blocks still missing) and completes
// each block as soon as its bytes are in, so a reader waiting for the
// first block does not wait for the last.
func (d *Device) fetch(blks []*block) {
	defer d.wg.Done()
	select {
	case d.turns <- struct{}{}:
		defer func() { <-d.turns }()
	case <-d.ctx.Done():
		d.fail(blks, fmt.Errorf("httpdisk: read %s: %w", d.name, ErrClosed))
		return
	}
	pos := 0
	err := d.retry(d.ctx, func(ctx context.Context) error {
		start := blks[pos].idx << d.shift
		end := min(d.size, (blks[len(blks)-1].idx+1)<<d.shift)
		resp, err := d.get(ctx, start, end)
		if err != nil {
			return err
		}
		defer drainClose(resp.Body)
		if err := d.check(resp, start, end); err != nil {
			return err
		}
		body := countReader{resp.Body, &d.fetched}
		for ; pos < len(blks); pos++ {
			buf := d.buffer(blks[pos].idx)
			if _, err := io.ReadFull(body, buf); err != nil {
				return transient{fmt.Errorf("httpdisk: GET %s bytes %d-%d: body at %d: %w", d.name, start, end-1, blks[pos].idx<<d.shift, err)}
			}
			d.complete(blks[pos], buf)
		}
		return nil
	})
	if err != nil {
		d.fail(blks[pos:], err)
	}
}

// retry calls f (one request) with a timeout, again after a transient
// failure with exponential backoff and jitter, at most d.retries times.
func (d *Device) retry(ctx context.Context, f func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, d.timeout)
		err := f(rctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case d.ctx.Err() != nil:
			return fmt.Errorf("httpdisk: read %s: %w", d.name, ErrClosed)
		case ctx.Err() != nil:
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		var t transient
		if !errors.As(err, &t) {
			return err
		}
		if attempt >= d.retries {
			return fmt.Errorf("%w (gave up after %d attempts)", t.err, attempt+1)
		}
		d.retried.Add(1)
		wait := min(d.backoff<<attempt, maxBackoff)
		wait = wait/2 + rand.N(wait/2+1)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
		}
	}
}

// get sends one GET for bytes [start, end). A transport error is
// transient; the caller checks the answer.
func (d *Device) get(ctx context.Context, start, end int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return nil, fmt.Errorf("httpdisk: GET %s: %w", d.name, err)
	}
	for k, v := range d.header {
		req.Header[k] = v
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end-1, 10))
	req.Header.Set("Accept-Encoding", "identity")
	if d.ifRange != "" {
		req.Header.Set("If-Range", d.ifRange)
	}
	d.requests.Add(1)
	resp, err := d.client.Do(req)
	if err != nil {
		// A *url.Error repeats the whole URL, query (credentials) included.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, transient{fmt.Errorf("httpdisk: GET %s bytes %d-%d: %w", d.name, start, end-1, err)}
	}
	return resp, nil
}

// check verifies a later answer: 206, the range asked for, the size and
// validators of Open's answer.
func (d *Device) check(resp *http.Response, start, end int64) error {
	switch c := resp.StatusCode; {
	case c == http.StatusPartialContent:
	case c == http.StatusOK && d.ifRange != "":
		return d.changed("the server answered If-Range %s with the whole body", d.ifRange)
	case c == http.StatusOK:
		return fmt.Errorf("httpdisk: GET %s: answered a Range request with the whole body: %w", d.name, ErrNoRanges)
	case c == http.StatusPreconditionFailed, c == http.StatusRequestedRangeNotSatisfiable:
		return d.changed("the server answered %s to bytes %d-%d", resp.Status, start, end-1)
	default:
		return statusError(d.name, resp)
	}
	cr := resp.Header.Get("Content-Range")
	first, last, total, err := parseContentRange(cr)
	if err != nil {
		return fmt.Errorf("httpdisk: GET %s: %w", d.name, err)
	}
	if total >= 0 && total != d.size {
		return d.changed("size %d is now %d", d.size, total)
	}
	if etag := resp.Header.Get("ETag"); d.etag != "" && etag != "" && etag != d.etag {
		return d.changed("ETag %s is now %s", d.etag, etag)
	}
	if lm := resp.Header.Get("Last-Modified"); d.lastMod != "" && lm != "" && lm != d.lastMod {
		return d.changed("Last-Modified %q is now %q", d.lastMod, lm)
	}
	if first != start || last != end-1 {
		return fmt.Errorf("httpdisk: GET %s bytes %d-%d: server sent Content-Range %q", d.name, start, end-1, cr)
	}
	return nil
}

func (d *Device) changed(format string, args ...any) error {
	return fmt.Errorf("httpdisk: %s: %w: "+format, append([]any{d.name, ErrChanged}, args...)...)
}

// statusError makes a *StatusError of resp, transient for 408, 429 and 5xx.
func statusError(name string, resp *http.Response) error {
	err := &StatusError{URL: name, Code: resp.StatusCode, Status: resp.Status}
	if c := resp.StatusCode; c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500 {
		return transient{err}
	}
	return err
}

// parseContentRange parses "bytes FIRST-LAST/TOTAL" (RFC 9110, 14.4);
// total is -1 for "*".
func parseContentRange(s string) (first, last, total int64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", s)
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	total = -1
	var err3 error
	if tot != "*" {
		total, err3 = strconv.ParseInt(tot, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || (tot != "*" && last >= total) {
		return 0, 0, 0, bad
	}
	return first, last, total, nil
}

// drainClose reads a little of what is left of body, so the connection
// can be reused, and closes it.
func drainClose(body io.ReadCloser) {
	io.CopyN(io.Discard, body, 64<<10)
	body.Close()
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
