package ufs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/datamap"
)

// Copying trees: CopyTree, and Copier for several sources into one
// destination. This is the engine of cmd/demo's cp-out and cp-in
// (cpfromfs and cptofs), between an FS on LKL and one on the host,
// either way; it works between any two FSs.

// CopyOptions are the options of CopyTree and NewCopier. The zero value
// copies with every write made on the calling goroutine, reports
// nothing and skips devices, fifos and sockets silently.
type CopyOptions struct {
	// Workers > 0 runs the destination's writes on that many goroutines,
	// in batches, so that the source is read while the destination is
	// written. Leave it 0 when the destination is LKL's (its one CPU
	// gains nothing from more callers) and use it when the destination
	// is the host's.
	Workers int
	// Progress, if set, is told of every regular file copied (files 1,
	// bytes 0) and of every run of bytes written (files 0, bytes n). It
	// is called from the workers too, so it must be safe for concurrent
	// use, and it must be quick: it runs in the copy's inner loop.
	Progress func(files, bytes int64)
	// Skipped, if set, is told of every file not copied, by its name in
	// the source and its mode: devices, fifos and sockets, and a
	// regular file that became something else during the copy.
	Skipped func(name string, mode fs.FileMode)
	// Image, if set, is the disk image the source FS is mounted from,
	// open for reading on the host: a file whose extents (FIEMAP) all
	// lie plainly in the image is copied from it directly, asking the
	// source's kernel only where its bytes are. Set it only where those
	// extents are offsets in Image: a read-only mount (nothing changes
	// under the copy) of a whole-disk (unpartitioned) ext4 or xfs image;
	// btrfs reports logical addresses and vfat has no FIEMAP. Other
	// files go through the source's kernel.
	Image *File
}

// CopyTree copies each name in src, with everything under it, into the
// directory dst under its own base name ("." copies src's whole tree
// into dst). Modes, modification and access times, symlinks and hard
// links (among the files copied) are kept; a copy replaces a file or
// symlink already at its name. It returns the first error and stops
// there.
//
// Every call on src is made on the calling goroutine: on LKL, whose one
// CPU calls from several threads only hand back and forth, lock it to
// its thread (runtime.LockOSThread) for the fastest copy.
func CopyTree(dst, src *FS, names []string, o CopyOptions) error {
	c := NewCopier(dst, o)
	for _, name := range names {
		if c.Copy(src, name) != nil {
			break
		}
	}
	return c.Wait()
}

// A Copier copies trees from one or more FSs into one destination
// directory, as CopyTree does, keeping hard links among all of them; its
// Wait finishes the copy. A Copier is used from one goroutine.
//
// One goroutine, the caller's, walks the source and reads every file:
// LKL runs one CPU, and calls into it from several threads only hand
// that CPU back and forth (docs/ufs.md measures it).
// With Workers, the destination's writes go to worker goroutines in
// batches, so that LKL reads the next files while the host writes the
// last ones; otherwise they run inline. Files larger than chunkSize are
// read through the source's kernel and written in chunks, and all-zero
// chunks are left as holes; direct copies (copy_direct.go) copy only the
// written extents.
type Copier struct {
	o     CopyOptions
	jobs  chan []func() error // the destination's writes, in batches; nil: run inline
	batch []func() error      // jobs not sent yet
	bufs  chan []byte         // chunk buffers, recycled
	small [15]sync.Pool       // buffers of small files, by size class: 512 << i bytes
	st    unix.Stat_t         // file's, reused
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error    // the first error; guarded by mu
	after []func() // directory and big-file times, set once all is written
	subs  []*FS    // sub-FSs to close at the end
	// direct, if set, gives the extents of a large source file on the
	// host's copy of the image, so that its bytes are copied there and
	// not through the source kernel (see copy_direct.go).
	direct *direct
	// Hard links: root is the destination every dpath is relative to;
	// links maps the (dev, ino) of each source file with more than one
	// link to the dpath of its first copy, and later names of it become
	// hard links to that copy, made by Wait once every file is written.
	root  *FS
	links map[[2]uint64]string
	later [][2]string // {first copy, new name}, both dpaths
}

const (
	chunkSize = 8 << 20
	chunkBufs = 8 // chunk buffers kept for reuse
)

// NewCopier returns a Copier into the directory dst.
func NewCopier(dst *FS, o CopyOptions) *Copier {
	c := &Copier{o: o, root: dst, links: map[[2]uint64]string{}, bufs: make(chan []byte, chunkBufs)}
	if o.Image != nil {
		c.direct = &direct{img: o.Image}
	}
	if o.Workers > 0 {
		c.jobs = make(chan []func() error, 64)
		for range o.Workers {
			c.wg.Go(func() {
				for batch := range c.jobs {
					for _, job := range batch {
						if err := job(); err != nil {
							c.fail(err)
						}
					}
				}
			})
		}
	}
	return c
}

// Copy copies name in src, with everything under it, into the
// destination under its base name ("." copies src's whole tree into
// it). After an error, which Wait returns too, nothing more is copied.
func (c *Copier) Copy(src *FS, name string) error {
	if err := c.tree(src, name, c.root, destName(name), destName(name), name); err != nil {
		c.fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// progress reports files and bytes to o.Progress.
func (c *Copier) progress(files, bytes int64) {
	if c.o.Progress != nil {
		c.o.Progress(files, bytes)
	}
}

// skipped reports a file not copied to o.Skipped.
func (c *Copier) skipped(name string, mode fs.FileMode) {
	if c.o.Skipped != nil {
		c.o.Skipped(name, mode)
	}
}

// jobBatch is how many writes go to a worker at once: one wake-up per
// batch, not per file.
const jobBatch = 16

// run runs a write, on a worker if there are any. Writes are sent in
// batches (see flush).
func (c *Copier) run(job func() error) {
	if c.jobs == nil {
		if err := job(); err != nil {
			c.fail(err)
		}
		return
	}
	c.batch = append(c.batch, job)
	if len(c.batch) >= jobBatch {
		c.flush()
	}
}

// flush sends the writes not sent yet to the workers.
func (c *Copier) flush() {
	if len(c.batch) > 0 {
		c.jobs <- c.batch
		c.batch = make([]func() error, 0, jobBatch)
	}
}

func (c *Copier) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *Copier) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// Wait finishes the copy: it waits for the writes, makes the hard links,
// sets the saved times (directories' last, as links change them) and
// returns the first error of the whole copy.
func (c *Copier) Wait() error {
	if c.jobs != nil {
		c.flush()
		close(c.jobs)
		c.wg.Wait()
	}
	for _, l := range c.later {
		if c.failed() {
			break
		}
		err := c.root.Link(l[0], l[1])
		if errors.Is(err, fs.ErrExist) { // as a file's copy replaces what is there
			if err = c.root.Remove(l[1]); err == nil {
				err = c.root.Link(l[0], l[1])
			}
		}
		if err != nil {
			c.fail(err)
		}
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
func (c *Copier) sub(fsys *FS, dir string) (*FS, error) {
	s, err := fsys.Sub(dir)
	if err != nil {
		return nil, err
	}
	sf := s.(*FS)
	if sf != fsys {
		c.subs = append(c.subs, sf)
	}
	return sf, nil
}

// tree copies name in src, and everything under it, to dname in dst,
// which is dpath in c.root; spath is name's path in the FS given to Copy,
// for Skipped and errors. Modes, times, symlinks and hard links (among
// the files copied) are kept; devices, fifos and sockets are skipped and
// reported to Skipped. A directory of a kernel that exports trees
// (sys.TreeExporter) is copied from its export (copyexport.go).
func (c *Copier) tree(src *FS, name string, dst *FS, dname, dpath, spath string) error {
	if c.failed() {
		return nil
	}
	fi, err := src.Lstat(name)
	if err != nil {
		return err
	}
	switch mode := fi.Mode(); {
	case mode.IsDir():
		if x, ok := src.Kernel().(sys.TreeExporter); ok {
			return c.export(x, src, name, dst, dname, dpath, spath)
		}
		return c.dir(src, name, dst, dname, dpath, spath, fi)
	case mode&fs.ModeSymlink != 0:
		target, err := src.ReadLink(name)
		if err != nil {
			return err
		}
		return c.symlink(dst, dname, target, atime(fi), fi.ModTime())
	case mode.IsRegular():
		df, err := src.OpenFile(path.Dir(name), os.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		defer df.Close()
		return c.file(srcDir{libgo.New(src.Kernel()), df.Fd(), path.Dir(spath)}, path.Base(name), dst, dname, path.Dir(dpath))
	}
	c.skipped(spath, fi.Mode().Type())
	return nil
}

// symlink makes dname in dst a symlink to target, replacing what is there
// (as a file's copy replaces what is there), with the times given.
func (c *Copier) symlink(dst *FS, dname, target string, atime, mtime time.Time) error {
	err := dst.Symlink(target, dname)
	if errors.Is(err, fs.ErrExist) {
		if err = dst.Remove(dname); err == nil {
			err = dst.Symlink(target, dname)
		}
	}
	if err != nil {
		return err
	}
	return dst.Lchtimes(dname, atime, mtime)
}

// mkdir makes the directory dname in dst (one already there is used) and
// returns it; its mode and times are set by Wait, once all is written.
func (c *Copier) mkdir(dst *FS, dname string, perm fs.FileMode, atime, mtime time.Time) (*FS, error) {
	if err := dst.Mkdir(dname, perm|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	d, err := c.sub(dst, dname)
	if err != nil {
		return nil, err
	}
	c.after = append(c.after, func() {
		if dname == "." {
			return // the destination directory itself is left alone
		}
		if err := dst.Chmod(dname, perm); err != nil {
			c.fail(err)
		}
		if err := dst.Chtimes(dname, atime, mtime); err != nil {
			c.fail(err)
		}
	})
	return d, nil
}

func (c *Copier) dir(src *FS, name string, dst *FS, dname, dpath, spath string, fi fs.FileInfo) error {
	d, err := c.mkdir(dst, dname, fi.Mode().Perm(), atime(fi), fi.ModTime())
	if err != nil {
		return err
	}
	s, err := c.sub(src, name)
	if err != nil {
		return err
	}
	df, err := s.OpenFile(".", os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer df.Close()
	ents, err := df.ReadDir(-1)
	if err != nil {
		return err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	sd := srcDir{libgo.New(src.Kernel()), df.Fd(), spath}
	for _, e := range ents {
		if c.failed() {
			return nil
		}
		if e.Type().IsRegular() {
			err = c.file(sd, e.Name(), d, e.Name(), dpath)
		} else {
			err = c.tree(s, e.Name(), d, e.Name(), path.Join(dpath, e.Name()), path.Join(spath, e.Name()))
		}
		if err != nil {
			return err
		}
	}
	c.flush() // keep the workers busy while the next directory is read
	return nil
}

// srcDir is a source directory open for file's calls.
type srcDir struct {
	l    *libgo.Libc // of the source's kernel
	fd   int
	name string // for errors
}

// file reads the regular file name of sd and queues its writes to dname
// in dst (which is ddir in c.root): one for a small file, one or one per
// chunk for a large one. A second name of a file already copied becomes
// a hard link (made by wait).
//
// It is the walker's inner loop (four source-kernel calls per file:
// openat, fstat, FIEMAP or pread, close), so it calls libgo on sd's fd
// and reuses its buffers instead of going through File, whose
// objects and locks cost the walker as much Go time per file as LKL's
// own work. name is one component from getdents, opened with O_NOFOLLOW:
// nothing outside sd can be reached.
func (c *Copier) file(sd srcDir, name string, dst *FS, dname, ddir string) error {
	perr := func(op string, err error) error {
		return &fs.PathError{Op: op, Path: path.Join(sd.name, name), Err: err}
	}
	// O_NONBLOCK: a fifo put in its place since getdents does not block.
	fd, err := sd.l.Openat(sd.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return perr("openat", err)
	}
	defer sd.l.Close(fd)
	st := &c.st
	if err := sd.l.Fstat(fd, st); err != nil {
		return perr("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		c.skipped(path.Join(sd.name, name), FileMode(st.Mode).Type())
		return nil
	}
	size, perm := st.Size, fs.FileMode(st.Mode&0o777)
	if size < 0 { // corrupt metadata (a hostile image): nothing to size a copy by
		return perr("fstat", errNegativeSize(size))
	}
	atime, mtime := timeOfSpec(st.Atim), timeOfSpec(st.Mtim)
	c.progress(1, 0)
	if st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := c.links[key]; ok {
			c.later = append(c.later, [2]string{first, path.Join(ddir, dname)})
			return nil
		}
		c.links[key] = path.Join(ddir, dname)
	}
	if size <= chunkSize {
		if exts, ok := c.direct.extents(sd.l, fd, size); ok {
			c.run(func() error { return c.copySmall(exts, size, dst, dname, perm, atime, mtime) })
			return nil
		}
		buf := c.getSmall(int(size))
		n, err := readFullAt(sd.l, fd, *buf, 0) // a file that shrank is copied as it is now
		if err != nil {
			c.putSmall(buf)
			return perr("pread", err)
		}
		c.run(func() error { return c.writeSmall(buf, n, dst, dname, perm, atime, mtime) })
		return nil
	}
	if err := c.createLarge(dst, dname, size, perm, atime, mtime); err != nil {
		return err
	}
	if exts, ok := c.direct.extents(sd.l, fd, size); ok {
		c.copyExtents(exts, size, dst, dname)
		return nil
	}
	for start, end := range datamap.Runs(sd.l.Kernel(), fd, size) {
		for off := start; off < end; off += chunkSize {
			buf := c.getBuf()
			n, err := readFullAt(sd.l, fd, buf[:min(chunkSize, end-off)], off)
			if err != nil {
				return perr("pread", err)
			}
			c.progress(0, int64(n))
			c.run(func() error { return c.writeChunk(buf, n, dst, dname, off) })
		}
	}
	return nil
}

// writeSmall writes (*buf)[:n] as the whole of dname in dst, created with
// perm, with the times given, and recycles buf.
func (c *Copier) writeSmall(buf *[]byte, n int, dst *FS, dname string, perm fs.FileMode, atime, mtime time.Time) error {
	defer c.putSmall(buf)
	c.progress(0, int64(n))
	out, err := dst.OpenFile(dname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = out.Write((*buf)[:n])
	return errors.Join(err, out.Chtimes(atime, mtime), out.Close())
}

// createLarge creates dname in dst with perm, truncated to size (its
// chunks are written next; what none writes stays a hole); its times are
// set by Wait, once all is written.
func (c *Copier) createLarge(dst *FS, dname string, size int64, perm fs.FileMode, atime, mtime time.Time) error {
	out, err := dst.OpenFile(dname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err == nil {
		err = errors.Join(out.Truncate(size), out.Close())
	}
	if err != nil {
		return err
	}
	c.after = append(c.after, func() {
		if err := dst.Chtimes(dname, atime, mtime); err != nil {
			c.fail(err)
		}
	})
	return nil
}

// readFullAt reads p at off of fd, until p is full or the file ends.
func readFullAt(l *libgo.Libc, fd int, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := l.Pread(fd, p[n:], off+int64(n))
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// getBuf returns a chunk buffer, recycled if one is free.
func (c *Copier) getBuf() []byte {
	select {
	case buf := <-c.bufs:
		return buf
	default:
		return make([]byte, chunkSize)
	}
}

// putBuf recycles a chunk buffer, if fewer than chunkBufs wait.
func (c *Copier) putBuf(buf []byte) {
	select {
	case c.bufs <- buf:
	default:
	}
}

// writeChunk writes buf[:n] at off of dname, unless it is all zeros (a
// hole: the file was truncated to its size), and recycles buf.
func (c *Copier) writeChunk(buf []byte, n int, dst *FS, dname string, off int64) error {
	defer c.putBuf(buf)
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

// getSmall returns a buffer of n bytes (n <= chunkSize), recycled if
// one of its size class is free.
func (c *Copier) getSmall(n int) *[]byte {
	class := 0
	for 512<<class < n {
		class++
	}
	if b, ok := c.small[class].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 512<<class)
	return &b
}

// putSmall recycles a buffer of getSmall.
func (c *Copier) putSmall(b *[]byte) {
	class := 0
	for 512<<class < cap(*b) {
		class++
	}
	c.small[class].Put(b)
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
