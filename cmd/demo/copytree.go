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
// way) for cp-out and cp-in. The walk runs on the calling goroutine; file
// contents are copied by workers, so that the kernel reading one file and
// the kernel writing another work at the same time. Files larger than
// chunkSize are split into chunks copied in parallel with pread/pwrite,
// and all-zero chunks are left as holes.
type copier struct {
	jobs  chan func(buf []byte) error
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error     // the first error; guarded by mu
	after []func()  // directory times, set once their contents are in
	subs  []*ufs.FS // sub-FSs to close at the end
	prog  *progress
	warn  io.Writer
}

const (
	copyWorkers = 4
	chunkSize   = 8 << 20
	workerBuf   = 1 << 20
)

func newCopier(prog *progress, warn io.Writer) *copier {
	c := &copier{jobs: make(chan func([]byte) error, 256), prog: prog, warn: warn}
	for range copyWorkers {
		c.wg.Go(func() {
			buf := make([]byte, workerBuf)
			for job := range c.jobs {
				if err := job(buf); err != nil {
					c.fail(err)
				}
			}
		})
	}
	return c
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

// wait waits for the workers, sets the directories' times, closes the
// sub-FSs and returns the first error.
func (c *copier) wait() error {
	close(c.jobs)
	c.wg.Wait()
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
		c.file(src, name, dst, dname, fi)
		return nil
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
		if err := c.tree(s, e.Name(), d, e.Name()); err != nil {
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

// file queues the copy of a regular file: one job, or one per chunk.
func (c *copier) file(src *ufs.FS, name string, dst *ufs.FS, dname string, fi fs.FileInfo) {
	size := fi.Size()
	perm := fi.Mode().Perm()
	if size <= chunkSize {
		c.jobs <- func(buf []byte) error {
			return c.small(src, name, dst, dname, fi, buf)
		}
		return
	}
	out, err := dst.OpenFile(dname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err == nil {
		err = errors.Join(out.Truncate(size), out.Close())
	}
	if err != nil {
		c.fail(err)
		return
	}
	var left sync.WaitGroup
	for off := int64(0); off < size; off += chunkSize {
		left.Add(1)
		c.jobs <- func(buf []byte) error {
			defer left.Done()
			return c.chunk(src, name, dst, dname, off, min(chunkSize, size-off), buf)
		}
	}
	c.after = append(c.after, func() {
		left.Wait()
		if err := dst.Chtimes(dname, atime(fi), fi.ModTime()); err != nil {
			c.fail(err)
		}
	})
	c.prog.files.Add(1)
}

// small copies a whole file with read and write.
func (c *copier) small(src *ufs.FS, name string, dst *ufs.FS, dname string, fi fs.FileInfo, buf []byte) error {
	in, err := src.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(dname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				out.Close()
				return werr
			}
			c.prog.bytes.Add(int64(n))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Close()
			return err
		}
	}
	c.prog.files.Add(1)
	return errors.Join(out.Chtimes(atime(fi), fi.ModTime()), out.Close())
}

// chunk copies n bytes at off with pread and pwrite, leaving zeros as
// holes (the file was truncated to its size).
func (c *copier) chunk(src *ufs.FS, name string, dst *ufs.FS, dname string, off, n int64, buf []byte) error {
	in, err := src.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(dname, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	for end := off + n; off < end; {
		b := buf[:min(int64(len(buf)), end-off)]
		m, err := in.ReadAt(b, off)
		if err != nil && err != io.EOF {
			out.Close()
			return err
		}
		if m == 0 {
			break
		}
		if !allZero(b[:m]) {
			if _, err := out.WriteAt(b[:m], off); err != nil {
				out.Close()
				return err
			}
		}
		c.prog.bytes.Add(int64(m))
		off += int64(m)
	}
	return out.Close()
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

// destName is the name a copied path takes in the destination directory.
func destName(name string) string {
	if name == "." {
		return "."
	}
	return path.Base(name)
}

// timeOfSpec converts a stat(2) timestamp.
func timeOfSpec(ts unix.Timespec) time.Time { return time.Unix(ts.Unix()) }
