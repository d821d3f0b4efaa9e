package ufs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/datamap"
	"github.com/gokernel/gokernel/sys/treestream"
)

// Copies from an exported tree. A kernel that exports trees
// (sys.TreeExporter: the isolated kernel, whose child walks the tree on
// its own LKL) hands the Copier a directory and everything under it as
// one sys/treestream stream, and the Copier creates the files from the
// records as its own walk would: the same writes (the workers', in
// batches), modes, times, symlinks, hard links, holes (the runs the
// stream leaves out and all-zero chunks of a large file) and Skipped
// reports. With CopyOptions.Image the export sends a file whose bytes
// lie plainly in the image as its extents, and the Copier copies them
// from the image as its direct copies do (copy_direct.go); the stream
// then carries metadata only. Hard links are kept among the files of one
// export.
//
// The stream is untrusted input (a hostile image may have taken the
// exporting child over): treestream.Reader checks its form (every name
// one path component, every directory one already made, every data run
// within its file, bounded records), and the files are made through the
// destination FS, beneath its root, as the walk's are. A stream that
// breaks off is an error naming its cause (the kernel's *DiedError when
// its child died or stalled); what was copied until then stays.

// export copies the directory name of src from the kernel's export.
func (c *Copier) export(x sys.TreeExporter, src *FS, name string, dst *FS, dname, dpath, spath string) error {
	df, err := src.OpenFile(name, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	rc, err := x.ExportTree(df.Fd(), c.direct != nil)
	df.Close()
	if err != nil {
		return &fs.PathError{Op: "export", Path: spath, Err: err}
	}
	defer rc.Close()
	return c.stream(treestream.NewReader(rc), dst, dname, dpath, spath)
}

// streamDir is a directory of the stream, made in the destination.
type streamDir struct {
	fs           *FS
	dpath, spath string
}

// streamFile is the regular file whose data records come.
type streamFile struct {
	dst          *FS
	dname        string
	perm         fs.FileMode
	size         int64
	atime, mtime time.Time
	small        *[]byte          // a small file's bytes so far (getSmall's)
	exts         []datamap.Extent // its extents in the image
	extents      bool             // its runs are extents
	chunk        []byte           // a large file's chunk so far (getBuf's)
	off          int64            // the chunk's offset
	n            int              // its bytes
}

// stream copies the tree r streams to dname in dst (dpath in c.root; spath
// in the source, for Skipped and errors).
func (c *Copier) stream(r *treestream.Reader, dst *FS, dname, dpath, spath string) error {
	var (
		dirs   []streamDir
		linked []string // the dpath of each linked file, by link index
		f      *streamFile
	)
	defer func() {
		if f != nil { // a stream that broke off inside a file
			if f.small != nil {
				c.putSmall(f.small)
			}
			if f.chunk != nil {
				c.putBuf(f.chunk)
			}
		}
	}()
	for {
		if c.failed() {
			return nil
		}
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ufs: the export of %s: %w", spath, err)
		}
		var d streamDir
		if len(dirs) > 0 { // the Reader checked rec.Dir
			d = dirs[rec.Dir]
		}
		switch rec.Kind {
		case treestream.KindRoot:
			fsys, err := c.mkdir(dst, dname, fs.FileMode(rec.Mode&0o777), rec.Atime, rec.Mtime)
			if err != nil {
				return err
			}
			dirs = append(dirs, streamDir{fsys, dpath, spath})
		case treestream.KindDir:
			fsys, err := c.mkdir(d.fs, rec.Name, fs.FileMode(rec.Mode&0o777), rec.Atime, rec.Mtime)
			if err != nil {
				return err
			}
			dirs = append(dirs, streamDir{fsys, path.Join(d.dpath, rec.Name), path.Join(d.spath, rec.Name)})
		case treestream.KindFile:
			c.progress(1, 0)
			if rec.Linked {
				linked = append(linked, path.Join(d.dpath, rec.Name))
			}
			if rec.Extents && c.direct == nil {
				return fmt.Errorf("ufs: the export of %s: %w: extent records, not asked for", spath, treestream.ErrFormat)
			}
			f = &streamFile{dst: d.fs, dname: rec.Name, perm: fs.FileMode(rec.Mode & 0o777), size: rec.Size, atime: rec.Atime, mtime: rec.Mtime, extents: rec.Extents}
			if f.size <= chunkSize {
				f.small = c.getSmall(0)
			} else if err := c.createLarge(d.fs, rec.Name, rec.Size, f.perm, rec.Atime, rec.Mtime); err != nil {
				return err
			}
		case treestream.KindData:
			c.streamData(f, rec.Off, rec.Data)
		case treestream.KindExtent: // the Reader lets none come but in a file of extents
			f.exts = append(f.exts, datamap.Extent{Off: rec.Off, Len: rec.Len, Phys: rec.Phys})
		case treestream.KindFileEnd:
			if f.extents {
				file := f
				if file.small != nil {
					c.putSmall(file.small)
					c.run(func() error {
						return c.copySmall(file.exts, file.size, file.dst, file.dname, file.perm, file.atime, file.mtime)
					})
				} else {
					c.copyExtents(file.exts, file.size, file.dst, file.dname)
				}
				f = nil
				break
			}
			if f.small != nil {
				file, n := f, len(*f.small)
				c.run(func() error {
					return c.writeSmall(file.small, n, file.dst, file.dname, file.perm, file.atime, file.mtime)
				})
			} else {
				c.flushChunk(f)
			}
			f = nil
		case treestream.KindLink:
			c.progress(1, 0)
			c.later = append(c.later, [2]string{linked[rec.Link], path.Join(d.dpath, rec.Name)})
		case treestream.KindSymlink:
			if err := c.symlink(d.fs, rec.Name, rec.Target, rec.Atime, rec.Mtime); err != nil {
				return err
			}
		case treestream.KindSkipped:
			c.skipped(path.Join(d.spath, rec.Name), FileMode(rec.Mode).Type())
		case treestream.KindError:
			p := spath
			if len(dirs) > 0 {
				p = path.Join(d.spath, rec.Name)
			}
			var e error = syscall.Errno(rec.Errno)
			switch {
			case rec.Errno == 0:
				e = errors.New(rec.Message)
			case rec.Message != "":
				e = fmt.Errorf("%s: %w", rec.Message, e)
			}
			return &fs.PathError{Op: rec.Op, Path: p, Err: e}
		case treestream.KindEnd:
			return nil
		}
	}
}

// streamData takes a data record of f: a small file's bytes are gathered
// for one write; a large file's into chunks, written by the workers.
// Memory grows with the bytes that came, never with what the file
// record claims.
func (c *Copier) streamData(f *streamFile, off int64, data []byte) {
	if f.small != nil {
		have, need := len(*f.small), int(off)+len(data) // <= f.size <= chunkSize (the Reader checked)
		if need > cap(*f.small) {
			nb := c.getSmall(need)
			copy(*nb, *f.small)
			c.putSmall(f.small)
			f.small = nb
		}
		b := (*f.small)[:need]
		clear(b[have:off]) // a gap: zeros, as a hole reads
		copy(b[off:], data)
		*f.small = b
		return
	}
	for len(data) > 0 {
		if f.chunk != nil && (off != f.off+int64(f.n) || f.n == chunkSize) {
			c.flushChunk(f)
		}
		if f.chunk == nil {
			f.chunk, f.off, f.n = c.getBuf(), off, 0
		}
		m := copy(f.chunk[f.n:], data)
		f.n += m
		off += int64(m)
		data = data[m:]
	}
}

// flushChunk queues the write of f's chunk.
func (c *Copier) flushChunk(f *streamFile) {
	if f.chunk == nil {
		return
	}
	buf, n, off, dst, dname := f.chunk, f.n, f.off, f.dst, f.dname
	f.chunk = nil
	c.progress(0, int64(n))
	c.run(func() error { return c.writeChunk(buf, n, dst, dname, off) })
}
