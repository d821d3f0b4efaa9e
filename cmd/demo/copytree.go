package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/ufs"
)

// copier copies trees between two FSs (an image's and the host's, either
// way) for cp-out and cp-in.
//
// One goroutine, the caller's, walks the source and reads every file:
// LKL runs one CPU, and calls into it from several threads only hand
// that CPU back and forth (measured: more readers made cp-out slower).
// When the destination is the host, its writes go to worker goroutines,
// so that LKL reads the next file while the host writes the last one;
// otherwise they run inline. Files larger than chunkSize are read and
// written in chunks, and all-zero chunks are left as holes.
type copier struct {
	jobs  chan func() error // the destination's writes; nil: run inline
	bufs  chan []byte       // chunk buffers, recycled
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error     // the first error; guarded by mu
	after []func()  // directory and big-file times, set once all is written
	subs  []*ufs.FS // sub-FSs to close at the end
	prog  *progress
	warn  io.Writer
	// direct, if set, gives the extents of a large source file on the
	// host's copy of the image, so that its bytes are copied there and
	// not through the source kernel (see direct.go).
	direct *direct
}

const (
	copyWorkers = 4
	chunkSize   = 8 << 20
	chunkBufs   = 2 * copyWorkers
)

// newCopier returns a copier; writers > 0 runs the destination's writes
// on that many goroutines.
func newCopier(prog *progress, warn io.Writer, writers int) *copier {
	c := &copier{prog: prog, warn: warn, bufs: make(chan []byte, chunkBufs)}
	if writers > 0 {
		c.jobs = make(chan func() error, 256)
		for range writers {
			c.wg.Go(func() {
				for job := range c.jobs {
					if err := job(); err != nil {
						c.fail(err)
					}
				}
			})
		}
	}
	return c
}

// run runs a write, on a worker if there are any.
func (c *copier) run(job func() error) {
	if c.jobs != nil {
		c.jobs <- job
	} else if err := job(); err != nil {
		c.fail(err)
	}
}

func (c *copier) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *copier) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// wait waits for the writes, sets the saved times, closes the sub-FSs and
// returns the first error.
func (c *copier) wait() error {
	if c.jobs != nil {
		close(c.jobs)
		c.wg.Wait()
	}
	for i := len(c.after) - 1; i >= 0; i-- {
		c.after[i]()
	}
	for _, s := range c.subs {
		s.Close()
	}
	return c.err
}

// sub returns the FS under dir of fsys, closed by wait.
func (c *copier) sub(fsys *ufs.FS, dir string) (*ufs.FS, error) {
	s, err := fsys.Sub(dir)
	if err != nil {
		return nil, err
	}
	sf := s.(*ufs.FS)
	if sf != fsys {
		c.subs = append(c.subs, sf)
	}
	return sf, nil
}

// tree copies name in src, and everything under it, to dname in dst.
// Modes, times and symlinks are kept; hard links become separate files,
// and devices, fifos and sockets are skipped with a warning.
func (c *copier) tree(src *ufs.FS, name string, dst *ufs.FS, dname string) error {
	if c.failed() {
		return nil
	}
	fi, err := src.Lstat(name)
	if err != nil {
		return err
	}
	switch mode := fi.Mode(); {
	case mode.IsDir():
		return c.dir(src, name, dst, dname, fi)
	case mode&fs.ModeSymlink != 0:
		target, err := src.ReadLink(name)
		if err != nil {
			return err
		}
		if err := dst.Symlink(target, dname); err != nil {
			return err
		}
		return dst.Lchtimes(dname, atime(fi), fi.ModTime())
	case mode.IsRegular():
		return c.file(src, name, dst, dname)
	}
	fmt.Fprintf(c.warn, "skipping %s: %s\n", name, fi.Mode().Type())
	return nil
}

func (c *copier) dir(src *ufs.FS, name string, dst *ufs.FS, dname string, fi fs.FileInfo) error {
	if err := dst.Mkdir(dname, fi.Mode().Perm()|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	s, err := c.sub(src, name)
	if err != nil {
		return err
	}
	d, err := c.sub(dst, dname)
	if err != nil {
		return err
	}
	ents, err := s.ReadDir(".")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if c.failed() {
			return nil
		}
		if e.Type().IsRegular() {
			// No lstat by name: the file is opened and fstat'ed, which
			// saves LKL a path lookup.
			err = c.file(s, e.Name(), d, e.Name())
		} else {
			err = c.tree(s, e.Name(), d, e.Name())
		}
		if err != nil {
			return err
		}
	}
	c.after = append(c.after, func() {
		if dname == "." {
			return // the destination directory itself is left alone
		}
		if err := dst.Chmod(dname, fi.Mode().Perm()); err != nil {
			c.fail(err)
		}
		if err := dst.Chtimes(dname, atime(fi), fi.ModTime()); err != nil {
			c.fail(err)
		}
	})
	return nil
}

// file reads a regular file and queues its writes: one for a small file,
// one per chunk for a large one.
func (c *copier) file(src *ufs.FS, name string, dst *ufs.FS, dname string) error {
	in, err := src.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	size, perm := fi.Size(), fi.Mode().Perm()
	c.prog.files.Add(1)
	if size <= chunkSize {
		data := make([]byte, size)
		var read func() (int, error)
		if exts, ok := c.direct.extents(in, size); ok {
			read = func() (int, error) { return c.direct.read(exts, data) }
		} else {
			n, err := io.ReadFull(in, data)
			if err != nil && err != io.ErrUnexpectedEOF { // a file that shrank is copied as it is now
				return err
			}
			read = func() (int, error) { return n, nil }
		}
		c.run(func() error {
			n, err := read()
			if err != nil {
				return err
			}
			c.prog.bytes.Add(int64(n))
			out, err := dst.OpenFile(dname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
			if err != nil {
				return err
			}
			_, err = out.Write(data[:n])
			return errors.Join(err, out.Chtimes(atime(fi), fi.ModTime()), out.Close())
		})
		return nil
	}
	out, err := dst.OpenFile(dname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err == nil {
		err = errors.Join(out.Truncate(size), out.Close())
	}
	if err != nil {
		return err
	}
	c.after = append(c.after, func() {
		if err := dst.Chtimes(dname, atime(fi), fi.ModTime()); err != nil {
			c.fail(err)
		}
	})
	if c.direct != nil {
		if exts, ok := c.direct.extents(in, size); ok {
			c.copyExtents(exts, size, dst, dname)
			return nil
		}
	}
	for off := int64(0); off < size; off += chunkSize {
		buf := c.getBuf()
		n, err := in.ReadAt(buf[:min(chunkSize, size-off)], off)
		if err != nil && err != io.EOF {
			return err
		}
		c.prog.bytes.Add(int64(n))
		c.run(func() error { return c.writeChunk(buf, n, dst, dname, off) })
	}
	return nil
}

// getBuf returns a chunk buffer, recycled if one is free.
func (c *copier) getBuf() []byte {
	select {
	case buf := <-c.bufs:
		return buf
	default:
		return make([]byte, chunkSize)
	}
}

// writeChunk writes buf[:n] at off of dname, unless it is all zeros (a
// hole: the file was truncated to its size), and recycles buf.
func (c *copier) writeChunk(buf []byte, n int, dst *ufs.FS, dname string, off int64) error {
	defer func() {
		select {
		case c.bufs <- buf:
		default:
		}
	}()
	if allZero(buf[:n]) {
		return nil
	}
	out, err := dst.OpenFile(dname, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = out.WriteAt(buf[:n], off)
	return errors.Join(err, out.Close())
}

// allZero reports whether b holds only zero bytes: its first byte is 0
// and every byte equals the one before it (one memcmp, no zero buffer).
func allZero(b []byte) bool { return len(b) > 0 && b[0] == 0 && bytes.Equal(b[1:], b[:len(b)-1]) }

// atime is a FileInfo's access time.
func atime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*unix.Stat_t); ok {
		return timeOfSpec(st.Atim)
	}
	return fi.ModTime()
}

// timeOfSpec converts a stat(2) timestamp.
func timeOfSpec(ts unix.Timespec) time.Time { return time.Unix(ts.Unix()) }

// destName is the name a copied path takes in the destination directory.
func destName(name string) string {
	if name == "." {
		return "."
	}
	return path.Base(name)
}
