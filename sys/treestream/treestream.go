// Package treestream is the format in which a kernel exports a directory
// tree as one byte stream (sys.TreeExporter): the isolated kernel's child
// walks the tree where the file system is and writes the stream into a
// pipe; ufs's Copier reads it and creates the files, as libguestfs'
// tar-out does. The writer may be a child that a hostile disk image has
// taken over, so the Reader trusts nothing in the stream: it checks every
// name, index, size and offset, allocates only what its bounds allow
// (never what a header claims), and returns an error, never a panic.
//
// The stream is a magic string and then records, each a kind byte and its
// fields. Numbers are unsigned varints (encoding/binary's Uvarint), except
// a time's seconds (a signed Varint); a string is its length (uvarint)
// and its bytes; a time is seconds and nanoseconds; a mode is stat(2)'s
// st_mode.
//
//	stream = "GKTREE1\n" root record* (end | error)
//	'R' root     mode atime mtime              the exported directory: dir 0
//	'D' dir      dir name mode atime mtime     a directory in dir: the next dir index
//	'F' file     dir name mode size atime mtime flags
//	                                           a regular file (flags 1: it has more than
//	                                           one link: the next link index; 2: its runs
//	                                           are extent records), then its runs:
//	'd' data     off len bytes                 a run of the file's bytes (len <= MaxData),
//	                                           at increasing offsets, within size
//	'x' extent   off len phys                  a run of the file's bytes that lies at phys
//	                                           in the disk image the reader holds (asked
//	                                           for), under the same rules as data
//	'e' file end                               the end of the file's data
//	'L' link     dir name link                 a further name of a linked file
//	'S' symlink  dir name target atime mtime
//	'K' skipped  dir name mode                 not copied: a device, fifo or socket, or a
//	                                           file that changed type under the walk
//	'X' error    dir name op errno message     the walk stopped: op on name in dir (name
//	                                           "": on dir itself) failed; as the first
//	                                           record it has no dir and name: the root
//	'Z' end                                    the walk is complete
//
// A dir index names a directory record already sent (0 is the root); a
// name is one path component (not empty, ".", "..", no "/" or NUL, at
// most MaxName bytes), so a path built from the records never leaves the
// exported tree. The regions between a file's data runs are holes (or
// zeros); a run of zeros may be sent as data too.
package treestream

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Magic starts every stream.
const Magic = "GKTREE1\n"

// Bounds of the stream's fields.
const (
	MaxName    = 255     // a name's bytes (NAME_MAX)
	MaxTarget  = 4096    // a symlink target's bytes (PATH_MAX)
	MaxData    = 1 << 20 // one data record's bytes
	maxOp      = 32      // an error record's op
	maxMessage = 1024    // an error record's message
	maxSize    = 1<<63 - 1
)

// Record kinds.
const (
	KindRoot    = 'R'
	KindDir     = 'D'
	KindFile    = 'F'
	KindData    = 'd'
	KindExtent  = 'x'
	KindFileEnd = 'e'
	KindLink    = 'L'
	KindSymlink = 'S'
	KindSkipped = 'K'
	KindError   = 'X'
	KindEnd     = 'Z'
)

// A file record's flags: FileLinked, the file has more than one link (it
// gets the next link index, which link records name); FileExtents, its
// runs are extent records, not data records.
const (
	FileLinked  = 1
	FileExtents = 2
)

// A Record is one record of a stream; which fields are set depends on
// Kind (see the package doc).
type Record struct {
	Kind   byte
	Dir    int    // the directory the entry is in (not for root, data, file end, end)
	Name   string // the entry's name in Dir
	Mode   uint32 // st_mode: root, dir, file, skipped
	Size   int64  // file
	Atime  time.Time
	Mtime  time.Time
	Linked bool // file: it has a link index
	// Extents is set in a file record whose runs are extent records
	// (none for a file of holes).
	Extents bool
	Link    int    // link: the link index of the file it is a name of
	Target  string // symlink
	Off     int64  // data, extent: the offset in the file
	Data    []byte // data: valid until the next call of Next
	Len     int64  // extent: its length
	Phys    int64  // extent: its offset in the disk image
	Op      string // error: the call that failed
	Errno   uint64 // error: its errno (0: Message says what failed)
	// Message is an error record's text, for a failure without an errno.
	Message string
}

// ErrFormat is wrapped by every error of a stream that breaks the format.
var ErrFormat = errors.New("treestream: malformed stream")

// A Reader reads records from a stream, checking each against the format
// and against the records before it.
type Reader struct {
	r      *bufio.Reader
	buf    []byte // data records' bytes: MaxData, allocated at the first
	n      int    // records read
	dirs   int    // directory records read (with the root)
	links  int    // linked files read
	inFile bool
	size   int64 // the open file's size
	end    int64 // the end of its last data or extent record
	runs   byte  // the kind of its runs: KindData or KindExtent
	done   bool
	rec    Record // Next's, reused
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

func formatErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, a...))
}

// Next returns the next record, valid until the next call (the Reader
// reuses it). After the end or an error record it
// returns io.EOF; a stream that ends before either is io.ErrUnexpectedEOF
// (or the error of the underlying reader, wrapped).
func (r *Reader) Next() (*Record, error) {
	if r.done {
		return nil, io.EOF
	}
	if r.n == 0 {
		var m [len(Magic)]byte
		if _, err := io.ReadFull(r.r, m[:]); err != nil {
			return nil, r.readErr(err)
		}
		if string(m[:]) != Magic {
			return nil, formatErr("no magic %q at the start", Magic)
		}
	}
	kind, err := r.r.ReadByte()
	if err != nil {
		return nil, r.readErr(err)
	}
	r.n++
	rec := &r.rec
	*rec = Record{Kind: kind}
	if r.n == 1 && kind != KindRoot && kind != KindError {
		return nil, formatErr("record 1 is %q, not the root", kind)
	}
	if r.inFile != (kind == KindData || kind == KindExtent || kind == KindFileEnd) {
		if r.inFile {
			return nil, formatErr("record %d (%q) inside a file's data", r.n, kind)
		}
		return nil, formatErr("record %d (%q) outside a file", r.n, kind)
	}
	switch kind {
	case KindRoot:
		if r.n != 1 {
			return nil, formatErr("record %d is a second root", r.n)
		}
		if err = r.mode(rec); err == nil {
			err = r.times(rec)
		}
		r.dirs++
	case KindDir:
		if err = r.entry(rec); err == nil {
			err = r.mode(rec)
		}
		if err == nil {
			err = r.times(rec)
		}
		r.dirs++
	case KindFile:
		if err = r.entry(rec); err == nil {
			err = r.mode(rec)
		}
		var size uint64
		if err == nil {
			size, err = r.uvarint("size", maxSize)
		}
		if err == nil {
			rec.Size = int64(size)
			err = r.times(rec)
		}
		if err == nil {
			var flags byte
			if flags, err = r.r.ReadByte(); err == nil {
				if flags&^(FileLinked|FileExtents) != 0 {
					return nil, formatErr("record %d: unknown file flags %#x", r.n, flags)
				}
				rec.Linked, rec.Extents = flags&FileLinked != 0, flags&FileExtents != 0
			}
		}
		if err == nil {
			if rec.Linked {
				r.links++
			}
			r.inFile, r.size, r.end, r.runs = true, rec.Size, 0, KindData
			if rec.Extents {
				r.runs = KindExtent
			}
		}
	case KindData, KindExtent:
		if r.runs != kind {
			return nil, formatErr("record %d: a %q record in a file whose runs are %q records", r.n, kind, r.runs)
		}
		max := uint64(MaxData)
		if kind == KindExtent {
			max = maxSize
		}
		var off, n uint64
		if off, err = r.uvarint("offset", maxSize); err == nil {
			n, err = r.uvarint("length", max)
		}
		if err != nil {
			break
		}
		if int64(off) < r.end || n == 0 || n > uint64(r.size) || int64(off) > r.size-int64(n) {
			return nil, formatErr("record %d: %s [%d, +%d) is not after %d and within the size %d", r.n, map[byte]string{KindData: "data", KindExtent: "extent"}[kind], off, n, r.end, r.size)
		}
		if kind == KindExtent {
			var phys uint64
			if phys, err = r.uvarint("physical offset", maxSize-n); err != nil {
				break
			}
			rec.Off, rec.Len, rec.Phys = int64(off), int64(n), int64(phys)
			r.end = int64(off + n)
			break
		}
		if r.buf == nil {
			r.buf = make([]byte, MaxData)
		}
		if _, err = io.ReadFull(r.r, r.buf[:n]); err != nil {
			break
		}
		rec.Off, rec.Data = int64(off), r.buf[:n]
		r.end = int64(off + n)
	case KindFileEnd:
		r.inFile = false
	case KindLink:
		if err = r.entry(rec); err == nil {
			var l uint64
			if l, err = r.uvarint("link", uint64(r.links)); err == nil {
				if l >= uint64(r.links) {
					return nil, formatErr("record %d: link %d of %d linked files", r.n, l, r.links)
				}
				rec.Link = int(l)
			}
		}
	case KindSymlink:
		if err = r.entry(rec); err == nil {
			if rec.Target, err = r.str("target", MaxTarget); err == nil && (rec.Target == "" || strings.IndexByte(rec.Target, 0) >= 0) {
				return nil, formatErr("record %d: symlink target %q", r.n, rec.Target)
			}
		}
		if err == nil {
			err = r.times(rec)
		}
	case KindSkipped:
		if err = r.entry(rec); err == nil {
			err = r.mode(rec)
		}
	case KindError:
		if r.n > 1 {
			err = r.errEntry(rec)
		}
		if err == nil {
			rec.Op, err = r.str("op", maxOp)
		}
		if err == nil {
			rec.Errno, err = r.uvarint("errno", 4095)
		}
		if err == nil {
			rec.Message, err = r.str("message", maxMessage)
		}
		r.done = err == nil
	case KindEnd:
		r.done = true
	default:
		return nil, formatErr("record %d: unknown kind %q", r.n, kind)
	}
	if err != nil {
		return nil, r.readErr(err)
	}
	return rec, nil
}

// readErr turns a read's error into Next's: the end of the input inside
// the stream is io.ErrUnexpectedEOF.
func (r *Reader) readErr(err error) error {
	if errors.Is(err, ErrFormat) {
		return err
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("treestream: the stream stopped after %d records, before its end: %w", r.n, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("treestream: reading record %d: %w", r.n+1, err)
}

// entry reads a dir index and a name.
func (r *Reader) entry(rec *Record) error { return r.entryOr(rec, false) }

// errEntry reads an error record's dir index and name: a name in dir,
// or "" for dir itself.
func (r *Reader) errEntry(rec *Record) error { return r.entryOr(rec, true) }

// entryOr reads a dir index and a name, which may be "" if self.
func (r *Reader) entryOr(rec *Record, self bool) error {
	d, err := r.uvarint("dir", uint64(r.dirs))
	if err != nil {
		return err
	}
	if d >= uint64(r.dirs) {
		return formatErr("record %d: dir %d of %d", r.n, d, r.dirs)
	}
	rec.Dir = int(d)
	if rec.Name, err = r.str("name", MaxName); err != nil {
		return err
	}
	if !ValidName(rec.Name) && !(self && rec.Name == "") {
		return formatErr("record %d: the name %q is not one path component", r.n, rec.Name)
	}
	return nil
}

// ValidName reports whether name is one path component: not empty, "."
// or "..", without "/" or NUL, at most MaxName bytes.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= MaxName && !strings.ContainsAny(name, "/\x00")
}

func (r *Reader) mode(rec *Record) error {
	m, err := r.uvarint("mode", 1<<32-1)
	rec.Mode = uint32(m)
	return err
}

func (r *Reader) times(rec *Record) error {
	var err error
	if rec.Atime, err = r.time("atime"); err == nil {
		rec.Mtime, err = r.time("mtime")
	}
	return err
}

func (r *Reader) time(what string) (time.Time, error) {
	u, err := r.uvarint(what, 1<<64-1)
	if err != nil {
		return time.Time{}, err
	}
	sec := int64(u >> 1) // zigzag, as binary.PutVarint
	if u&1 != 0 {
		sec = ^sec
	}
	nsec, err := r.uvarint(what, 999999999)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, int64(nsec)), nil
}

// uvarint reads a number of at most max (binary.PutUvarint's encoding).
func (r *Reader) uvarint(what string, max uint64) (uint64, error) {
	var v uint64
	for i := 0; ; i++ {
		b, err := r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, formatErr("record %d: %s overflows 64 bits", r.n, what)
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			break
		}
	}
	if v > max {
		return 0, formatErr("record %d: %s %d (at most %d)", r.n, what, v, max)
	}
	return v, nil
}

// str reads a string of at most max bytes.
func (r *Reader) str(what string, max int) (string, error) {
	n, err := r.uvarint(what+" length", uint64(max))
	if err != nil {
		return "", err
	}
	var b [MaxTarget]byte
	if _, err := io.ReadFull(r.r, b[:n]); err != nil {
		return "", err
	}
	return string(b[:n]), nil
}
