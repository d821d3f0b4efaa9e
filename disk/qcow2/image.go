package qcow2

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gokernel/gokernel/disk/internal/vecio"
)

// Options tune an Image; the zero value (or nil) works.
type Options struct {
	// MaxChain bounds the backing chain Open follows: an image with a
	// backing file whose backing file has one… Default 16.
	MaxChain int
	// CacheBytes bounds the memory of cached L2 tables and decompressed
	// clusters, each. Default 8 MiB (a 64 KiB-cluster image's L2 tables
	// for 64 GiB of disk).
	CacheBytes int64
}

func (o *Options) maxChain() int {
	if o == nil || o.MaxChain <= 0 {
		return 16
	}
	return o.MaxChain
}

func (o *Options) cacheBytes() int64 {
	if o == nil || o.CacheBytes <= 0 {
		return 8 << 20
	}
	return o.CacheBytes
}

// An Image is a qcow2 image opened for reading: an io.ReaderAt of Size
// bytes, the disk the image holds. ReadAt is safe for concurrent use.
type Image struct {
	r        io.ReaderAt
	fileSize int64
	h        *header
	cb       uint  // cluster bits
	cs       int64 // cluster size
	l1       []uint64

	rv          readvFunc   // r's vectored read, if it has one
	backing     io.ReaderAt // nil: unallocated clusters read as zero
	backingRv   readvFunc
	backingSize int64
	closers     []io.Closer // files Open opened, closed by Close

	l2    *lru[[]uint64] // L2 tables by host offset
	zclus *lru[[]byte]   // decompressed clusters by host offset
}

// New reads the qcow2 image held in the first size bytes of r. It cannot
// open backing files: an image that has one is an error (use Open).
func New(r io.ReaderAt, size int64, opts *Options) (*Image, error) {
	img, err := newImage(r, size, opts)
	if err != nil {
		return nil, err
	}
	if img.h.backingName != "" {
		return nil, &FormatError{Field: "backing_file", Err: fmt.Errorf("%q: New opens no backing files (Open does)", img.h.backingName)}
	}
	return img, nil
}

func newImage(r io.ReaderAt, size int64, opts *Options) (*Image, error) {
	h, err := parseHeader(r, size)
	if err != nil {
		return nil, err
	}
	img := &Image{r: r, rv: readvOf(r), fileSize: size, h: h, cb: h.clusterBits, cs: 1 << h.clusterBits}
	// The L1 table's size was checked against the file's, so it exists.
	raw := make([]byte, h.l1Size*8)
	if _, err := r.ReadAt(raw, h.l1Offset); err != nil {
		return nil, fmt.Errorf("qcow2: reading the L1 table: %w", err)
	}
	img.l1 = make([]uint64, h.l1Size)
	for i := range img.l1 {
		img.l1[i] = binary.BigEndian.Uint64(raw[8*i:])
	}
	n := int(max(2, opts.cacheBytes()/img.cs))
	img.l2, img.zclus = newLRU[[]uint64](n), newLRU[[]byte](n)
	return img, nil
}

// Size is the disk's size in bytes (the image's virtual size).
func (img *Image) Size() int64 { return img.h.size }

// Version is the image's qcow2 version, 2 or 3.
func (img *Image) Version() int { return img.h.version }

// BackingFile is the backing file's name as the image records it ("" for
// none).
func (img *Image) BackingFile() string { return img.h.backingName }

// Close closes the files Open opened: the image's and its backing chain's.
func (img *Image) Close() error {
	var err error
	for _, c := range img.closers {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	img.closers = nil
	return err
}

// Open opens the qcow2 image at path and its backing chain: a backing
// file named by a relative path is found beside the image that names it;
// its format is the one the image records, else detected (qcow2 or raw).
// A chain longer than opts.MaxChain or one that loops is an error.
func Open(path string, opts *Options) (*Image, error) {
	return openChain(path, opts, nil)
}

func openChain(path string, opts *Options, seen []os.FileInfo) (*Image, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	img, err := openOn(f, fi, path, opts, seen)
	if err != nil {
		f.Close()
		return nil, err
	}
	return img, nil
}

func openOn(f *os.File, fi os.FileInfo, path string, opts *Options, seen []os.FileInfo) (*Image, error) {
	for _, s := range seen {
		if os.SameFile(s, fi) {
			return nil, fmt.Errorf("qcow2: %s: the backing chain loops back to this file", path)
		}
	}
	seen = append(seen, fi)
	img, err := newImage(f, fi.Size(), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	img.closers = []io.Closer{f}
	name := img.h.backingName
	if name == "" {
		return img, nil
	}
	if len(seen) > opts.maxChain() {
		return nil, fmt.Errorf("qcow2: %s: backing chain longer than %d images", path, opts.maxChain())
	}
	bpath := name
	if !filepath.IsAbs(bpath) {
		bpath = filepath.Join(filepath.Dir(path), name)
	}
	bf, bfi, err := openRegular(bpath)
	if err != nil {
		return nil, fmt.Errorf("qcow2: %s: backing file: %w", path, err)
	}
	format := img.h.backingFormat
	if format == "" {
		var m [4]byte
		if n, _ := bf.ReadAt(m[:], 0); n == 4 && string(m[:]) == Magic {
			format = "qcow2"
		} else {
			format = "raw"
		}
	}
	switch format {
	case "qcow2":
		b, err := openOn(bf, bfi, bpath, opts, seen)
		if err != nil {
			bf.Close()
			return nil, err
		}
		img.backing, img.backingRv, img.backingSize = b, b.ReadvAt, b.Size()
		img.closers = append(img.closers, b)
	case "raw":
		for _, s := range seen {
			if os.SameFile(s, bfi) {
				bf.Close()
				return nil, fmt.Errorf("qcow2: %s: the backing chain loops back to this file", bpath)
			}
		}
		img.backing, img.backingRv, img.backingSize = bf, readvOf(bf), bfi.Size()
		img.closers = append(img.closers, bf)
	default:
		bf.Close()
		return nil, fmt.Errorf("%s: %w", path, unsupported("backing format", fmt.Sprintf("%q (this reader knows qcow2 and raw)", format)))
	}
	return img, nil
}

func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &os.PathError{Op: "open", Path: path, Err: errors.New("not a regular file")}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// Cluster kinds of a run of ReadvAt.
const (
	runNone = iota
	runData
	runZero
	runBacking
)

// ReadAt reads len(p) bytes of the disk at off, as ReadvAt does.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	return img.ReadvAt([][]byte{p}, off)
}

// ReadvAt reads consecutive bytes of the disk at off into bufs, as
// preadv(2) does: it fills them all, or returns an error, or io.EOF with
// the bytes up to the disk's end. It maps the clusters of the range and
// reads each run of data clusters that are adjacent in the image file with
// one vectored read straight into bufs (preadv on a host file), each run
// of clusters the backing file serves with one read of it; zero and
// unallocated clusters are cleared, compressed ones decompressed (and
// cached).
func (img *Image) ReadvAt(bufs [][]byte, off int64) (int, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	if off < 0 || off > img.h.size {
		return 0, fmt.Errorf("qcow2: read at %d: offset outside the disk (%d bytes)", off, img.h.size)
	}
	var eof error
	if rest := img.h.size - off; int64(total) > rest {
		total, eof = int(rest), io.EOF
		bufs = span(bufs, 0, total)
	}
	kind, from, host := runNone, 0, int64(0) // the pending run: bytes [from, done) of bufs
	flush := func(to int) error {
		if to == from {
			return nil
		}
		q := span(bufs, from, to)
		switch kind {
		case runData:
			return img.readFile(q, host)
		case runZero:
			for _, b := range q {
				clear(b)
			}
		case runBacking:
			return img.readBacking(q, off+int64(from))
		}
		return nil
	}
	for done := 0; done < total; {
		pos := off + int64(done)
		in := pos & (img.cs - 1)
		k := int(min(int64(total-done), img.cs-in))
		e, err := img.entry(pos >> img.cb)
		if err != nil {
			return 0, err
		}
		var next int
		var nhost int64
		switch {
		case e&(1<<62) != 0: // compressed
			if err := flush(done); err != nil {
				return 0, err
			}
			c, err := img.compressed(e)
			if err != nil {
				return 0, err
			}
			scatter(span(bufs, done, done+k), c[in:])
			kind, from = runNone, done+k
			done += k
			continue
		case e&1 != 0:
			if img.h.version < 3 {
				return 0, bad("L2 entry", "zero flag in a version 2 image (cluster at %d)", pos-in)
			}
			next = runZero
		case e&offsetMask == 0:
			next = runBacking
		default:
			next, nhost = runData, int64(e&offsetMask)
			if nhost%img.cs != 0 {
				return 0, bad("L2 entry", "data cluster at %d is not cluster-aligned (disk offset %d)", nhost, pos-in)
			}
			nhost += in
		}
		if next != kind || (kind == runData && host+int64(done-from) != nhost) {
			if err := flush(done); err != nil {
				return 0, err
			}
			kind, from, host = next, done, nhost
		}
		done += k
	}
	if err := flush(total); err != nil {
		return 0, err
	}
	return total, eof
}

// span returns the bytes [from, to) of the consecutive buffers bufs, as
// buffers (sharing their memory).
func span(bufs [][]byte, from, to int) [][]byte {
	if len(bufs) == 1 {
		return [][]byte{bufs[0][from:to]}
	}
	var out [][]byte
	pos := 0
	for _, b := range bufs {
		lo, hi := max(from-pos, 0), min(to-pos, len(b))
		if lo < hi {
			out = append(out, b[lo:hi])
		}
		if pos += len(b); pos >= to {
			break
		}
	}
	return out
}

// scatter copies src into bufs, in order, as far as both go.
func scatter(bufs [][]byte, src []byte) {
	for _, b := range bufs {
		src = src[copy(b, src):]
	}
}

// length is the bytes in bufs.
func length(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// readvFunc is a vectored read: preadv on a host file, an Image's
// ReadvAt, or a device's.
type readvFunc func(bufs [][]byte, off int64) (int, error)

// readvOf returns r's vectored read, or nil if it has none (then a run is
// read with ReadAt, buffer by buffer).
func readvOf(r io.ReaderAt) readvFunc {
	switch v := r.(type) {
	case *os.File:
		return func(bufs [][]byte, off int64) (int, error) { return vecio.Preadv(v, bufs, off) }
	case interface {
		ReadvAt(bufs [][]byte, off int64) (int, error)
	}:
		return v.ReadvAt
	}
	return nil
}

// readv reads consecutive bytes of r at off into q: with readv if it is
// set, else with one ReadAt per buffer.
func readv(r io.ReaderAt, rv readvFunc, q [][]byte, off int64) (int, error) {
	if rv != nil && len(q) > 1 {
		return rv(q, off)
	}
	n := 0
	for _, b := range q {
		k, err := r.ReadAt(b, off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readFile reads image bytes at host into q; bytes past the file's end
// read as zero, as qemu reads them.
func (img *Image) readFile(q [][]byte, host int64) error {
	want := length(q)
	if host >= img.fileSize {
		scatterZero(q, 0)
		return nil
	}
	n, err := readv(img.r, img.rv, q, host)
	if err == io.EOF && int64(n) == min(int64(want), img.fileSize-host) {
		scatterZero(q, n)
		err = nil
	}
	if err == nil && n < want {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("qcow2: reading data at %d: %w", host, err)
	}
	return nil
}

// scatterZero clears the bytes of q from byte from on.
func scatterZero(q [][]byte, from int) {
	for _, b := range span(q, from, length(q)) {
		clear(b)
	}
}

// readBacking reads the backing file at off into q; past its end, or with
// no backing file, the disk reads as zero.
func (img *Image) readBacking(q [][]byte, off int64) error {
	if img.backing == nil || off >= img.backingSize {
		scatterZero(q, 0)
		return nil
	}
	want := length(q)
	k := int(min(int64(want), img.backingSize-off))
	n, err := readv(img.backing, img.backingRv, span(q, 0, k), off)
	if err == io.EOF && n == k {
		err = nil
	}
	if err == nil && n < k {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("qcow2: reading the backing file at %d: %w", off, err)
	}
	scatterZero(q, k)
	return nil
}

// entry returns the L2 entry of cluster c of the disk (0: unallocated).
func (img *Image) entry(c int64) (uint64, error) {
	perL2 := img.cs / 8
	i := c / perL2
	if i >= int64(len(img.l1)) { // cannot happen: l1_size was checked
		return 0, nil
	}
	l2off := int64(img.l1[i] & offsetMask)
	if l2off == 0 {
		return 0, nil
	}
	if t, ok := img.l2.get(l2off); ok {
		return t[c%perL2], nil
	}
	if l2off%img.cs != 0 || l2off > img.fileSize-img.cs {
		return 0, bad("L1 entry", "L2 table at %d (entry %d) is not a cluster-aligned table inside the %d-byte file", l2off, i, img.fileSize)
	}
	raw := make([]byte, img.cs)
	if _, err := img.r.ReadAt(raw, l2off); err != nil {
		return 0, fmt.Errorf("qcow2: reading the L2 table at %d: %w", l2off, err)
	}
	t := make([]uint64, perL2)
	for j := range t {
		t[j] = binary.BigEndian.Uint64(raw[8*j:])
	}
	img.l2.put(l2off, t)
	return t[c%perL2], nil
}

// compressed returns the cluster a compressed L2 entry describes,
// decompressed (raw deflate, as qemu writes it).
func (img *Image) compressed(e uint64) ([]byte, error) {
	x := 62 - (img.cb - 8)
	host := int64(e & (1<<x - 1))
	sectors := int64(e>>x) & (1<<(img.cb-8) - 1)
	if c, ok := img.zclus.get(host); ok {
		return c, nil
	}
	n := (sectors+1)*512 - host%512
	if host >= img.fileSize {
		return nil, bad("L2 entry", "compressed cluster at %d is past the %d-byte file", host, img.fileSize)
	}
	n = min(n, img.fileSize-host)
	src := make([]byte, n)
	if _, err := img.r.ReadAt(src, host); err != nil && err != io.EOF {
		return nil, fmt.Errorf("qcow2: reading the compressed cluster at %d: %w", host, err)
	}
	out := make([]byte, img.cs)
	zr := flate.NewReader(bytes.NewReader(src))
	defer zr.Close()
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, bad("compressed cluster", "at %d (%d bytes): %v", host, n, err)
	}
	img.zclus.put(host, out)
	return out, nil
}
