package treestream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	t1 = time.Unix(1700000000, 123456789)
	t2 = time.Unix(-5, 999999999) // before 1970: a negative varint
)

// sample writes a stream with every kind of record.
func sample(t testing.TB) []byte {
	var b bytes.Buffer
	w := NewWriter(&b)
	require.NoError(t, w.Root(0o40755, t1, t2))
	require.NoError(t, w.Dir(0, "sub", 0o40700, t2, t1))
	require.NoError(t, w.File(1, "small", 0o100644, 5, t1, t1, false, false))
	require.NoError(t, w.Data(0, []byte("hello")))
	require.NoError(t, w.FileEnd())
	require.NoError(t, w.File(0, "sparse", 0o100600, 1<<40, t1, t2, true, false))
	require.NoError(t, w.Data(4096, []byte("x")))
	require.NoError(t, w.Data(1<<39, bytes.Repeat([]byte{7}, 1000)))
	require.NoError(t, w.FileEnd())
	require.NoError(t, w.File(1, "in-image", 0o100644, 10000, t1, t1, false, true))
	require.NoError(t, w.Extent(0, 4096, 1<<20))
	require.NoError(t, w.Extent(8192, 10000-8192, 1<<30))
	require.NoError(t, w.FileEnd())
	require.NoError(t, w.Link(1, "again", 0))
	require.NoError(t, w.Symlink(1, "ln", "../sparse", t2, t2))
	require.NoError(t, w.Skipped(0, "fifo", 0o10644))
	require.NoError(t, w.End())
	return b.Bytes()
}

func readAll(r *Reader) ([]Record, error) {
	var recs []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		rec.Data = bytes.Clone(rec.Data)
		recs = append(recs, *rec)
	}
}

func TestRoundTrip(t *testing.T) {
	recs, err := readAll(NewReader(bytes.NewReader(sample(t))))
	require.NoError(t, err)
	var kinds []byte
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	require.Equal(t, "RDFdeFddeFxxeLSKZ", string(kinds))
	require.Equal(t, Record{Kind: KindRoot, Mode: 0o40755, Atime: t1, Mtime: t2}, recs[0])
	require.Equal(t, Record{Kind: KindDir, Name: "sub", Mode: 0o40700, Atime: t2, Mtime: t1}, recs[1])
	require.Equal(t, Record{Kind: KindFile, Dir: 1, Name: "small", Mode: 0o100644, Size: 5, Atime: t1, Mtime: t1}, recs[2])
	require.Equal(t, "hello", string(recs[3].Data))
	require.True(t, recs[5].Linked)
	require.EqualValues(t, 1<<40, recs[5].Size)
	require.Equal(t, Record{Kind: KindData, Off: 1 << 39, Data: bytes.Repeat([]byte{7}, 1000)}, recs[7])
	require.Equal(t, Record{Kind: KindExtent, Off: 8192, Len: 10000 - 8192, Phys: 1 << 30}, recs[11])
	require.Equal(t, Record{Kind: KindLink, Dir: 1, Name: "again"}, recs[13])
	require.Equal(t, Record{Kind: KindSymlink, Dir: 1, Name: "ln", Target: "../sparse", Atime: t2, Mtime: t2}, recs[14])
	require.Equal(t, Record{Kind: KindSkipped, Name: "fifo", Mode: 0o10644}, recs[15])
}

func TestErrorRecords(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	require.NoError(t, w.Error(0, "", "fstat", 20, ""))
	recs, err := readAll(NewReader(&b))
	require.NoError(t, err)
	require.Equal(t, []Record{{Kind: KindError, Op: "fstat", Errno: 20}}, recs)

	b.Reset()
	w = NewWriter(&b)
	require.NoError(t, w.Root(0o40755, t1, t1))
	require.NoError(t, w.Error(0, "f", "fstat", 117, "negative file size -1"))
	recs, err = readAll(NewReader(&b))
	require.NoError(t, err)
	require.Equal(t, Record{Kind: KindError, Name: "f", Op: "fstat", Errno: 117, Message: "negative file size -1"}, recs[1])
}

// raw builds a stream by hand: Magic, then each part (a byte, a string
// as its bytes, a uint64 as a uvarint).
func raw(parts ...any) []byte {
	b := []byte(Magic)
	for _, p := range parts {
		switch p := p.(type) {
		case byte:
			b = append(b, p)
		case string:
			b = append(b, p...)
		case int:
			b = binary.AppendUvarint(b, uint64(p))
		case uint64:
			b = binary.AppendUvarint(b, p)
		}
	}
	return b
}

// root is a root record's bytes (mode, two zero times).
var root = []any{byte('R'), 0o40755, 0, 0, 0, 0}

func with(parts ...any) []byte { return raw(append(append([]any{}, root...), parts...)...) }

// Every stream that breaks the format is an error wrapping ErrFormat (or
// io.ErrUnexpectedEOF for one that stops), before the record is used.
func TestHostileStreams(t *testing.T) {
	name := func(n string) []any { return []any{len(n), n} }
	file := func(dir int, n string, size uint64) []any {
		return append(append([]any{byte('F'), dir}, name(n)...), 0o100644, size, 0, 0, 0, 0, byte(0))
	}
	fileX := func(dir int, n string, size uint64) []any { // runs are extents
		return append(append([]any{byte('F'), dir}, name(n)...), 0o100644, size, 0, 0, 0, 0, byte(FileExtents))
	}
	cat := func(parts ...[]any) []any {
		var all []any
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	for _, tc := range []struct {
		name   string
		stream []byte
		want   string
	}{
		{"no magic", []byte("GKTREE2\nR"), "no magic"},
		{"empty", nil, "stopped"},
		{"not root first", raw(byte('Z')), "not the root"},
		{"second root", with(root...), "second root"},
		{"dotdot", with(cat([]any{byte('D'), 0}, name(".."), []any{0o40755, 0, 0, 0, 0})...), "not one path component"},
		{"dot", with(cat([]any{byte('S'), 0}, name("."), name("x"), []any{0, 0, 0, 0})...), "not one path component"},
		{"slash", with(file(0, "a/b", 1)...), "not one path component"},
		{"absolute", with(file(0, "/etc", 1)...), "not one path component"},
		{"nul", with(file(0, "a\x00b", 1)...), "not one path component"},
		{"empty name", with(cat([]any{byte('K'), 0}, name(""), []any{0o10644})...), "not one path component"},
		{"long name", with(file(0, strings.Repeat("n", 256), 1)...), "name length 256"},
		{"dir not sent", with(file(1, "f", 1)...), "dir 1 of 1"},
		{"dir index overflow", with(byte('F'), uint64(1<<63), 1, "f"), "dir"},
		{"varint overflow", with(byte('F'), "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), "overflows"},
		{"link not sent", with(cat([]any{byte('L'), 0}, name("l"), []any{0})...), "link 0"},
		{"data outside a file", with(byte('d'), 0, 1, "x"), "outside a file"},
		{"end of file outside a file", with(byte('e')), "outside a file"},
		{"record inside a file", with(cat(file(0, "f", 10), []any{byte('Z')})...), "inside a file"},
		{"data past size", with(cat(file(0, "f", 10), []any{byte('d'), 8, 3, "abc"})...), "within the size"},
		{"data before the last", with(cat(file(0, "f", 10), []any{byte('d'), 4, 2, "ab", byte('d'), 5, 1, "c"})...), "not after"},
		{"empty data", with(cat(file(0, "f", 10), []any{byte('d'), 0, 0})...), "not after"},
		{"huge data", with(cat(file(0, "f", 1<<40), []any{byte('d'), 0, MaxData + 1})...), "length"},
		{"data claimed, not sent", with(cat(file(0, "f", 1<<40), []any{byte('d'), 0, MaxData})...), "stopped"},
		{"extent in a data file", with(cat(file(0, "f", 10), []any{byte('d'), 0, 1, "a", byte('x'), 4, 2, 0})...), "whose runs are"},
		{"data in an extent file", with(cat(fileX(0, "f", 10), []any{byte('d'), 0, 1, "a"})...), "whose runs are"},
		{"extent past size", with(cat(fileX(0, "f", 10), []any{byte('x'), 8, 3, 0})...), "within the size"},
		{"extent overlapping", with(cat(fileX(0, "f", 10), []any{byte('x'), 4, 4, 0, byte('x'), 6, 1, 0})...), "not after"},
		{"extent phys overflow", with(cat(fileX(0, "f", 1<<40), []any{byte('x'), 0, 1 << 39, uint64(1<<63 - 1)})...), "physical offset"},
		{"size over int64", with(file(0, "f", 1<<63)...), "size"},
		{"nanoseconds", with(cat([]any{byte('D'), 0}, name("d"), []any{0o40755, 0, 1000000000, 0, 0})...), "atime"},
		{"unknown flags", with(cat([]any{byte('F'), 0}, name("f"), []any{0o100644, 1, 0, 0, 0, 0, byte(4)})...), "flags"},
		{"symlink target nul", with(cat([]any{byte('S'), 0}, name("s"), name("a\x00"), []any{0, 0, 0, 0})...), "target"},
		{"symlink target empty", with(cat([]any{byte('S'), 0}, name("s"), name(""), []any{0, 0, 0, 0})...), "target"},
		{"long target", with(cat([]any{byte('S'), 0}, name("s"), []any{MaxTarget + 1})...), "target length"},
		{"errno", with(cat([]any{byte('X'), 0}, name("f"), name("op"), []any{4096})...), "errno"},
		{"unknown kind", with(byte('?')), "unknown kind"},
		{"cut in a header", with(byte('D'), 0, 3, "ab"), "stopped"},
		{"no end", with(), "stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(NewReader(bytes.NewReader(tc.stream)))
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A stream's claims allocate nothing: a file of 2^62 bytes and a data
// record of MaxData that never comes cost the Reader its one data buffer.
func TestClaimsAllocateNothing(t *testing.T) {
	stream := with(byte('F'), 0, 1, "f", 0o100644, uint64(1<<62), 0, 0, 0, 0, byte(0), byte('d'), 0, MaxData)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readAll(NewReader(bytes.NewReader(stream)))
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(MaxData+256<<10), "bytes allocated")
}

// The underlying reader's error is wrapped, not taken for the format's.
func TestReaderError(t *testing.T) {
	boom := errors.New("the child died")
	_, err := readAll(NewReader(io.MultiReader(bytes.NewReader(sample(t)[:40]), iotest{boom})))
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, ErrFormat)
}

type iotest struct{ err error }

func (r iotest) Read([]byte) (int, error) { return 0, r.err }

// FuzzReader: no stream makes the Reader panic, read without end or hand
// out a record that breaks the format's promises.
func FuzzReader(f *testing.F) {
	f.Add(sample(f))
	f.Add(with(byte('D'), 0, 2, "..", 0o40755, 0, 0, 0, 0))
	f.Add(with(byte('F'), 0, 1, "f", 0o100644, 10, 0, 0, 0, 0, byte(1), byte('d'), 2, 3, "abc", byte('e'), byte('L'), 0, 1, "g", 0, byte('Z')))
	f.Add(raw(byte('X'), 2, "op", 5, 0))
	f.Add(with(byte('F'), 0, 1, "f", 0o100644, 10, 0, 0, 0, 0, byte(FileExtents), byte('x'), 2, 3, 4096, byte('e'), byte('Z')))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		dirs, links := 0, 0
		var size, end int64
		for i := 0; ; i++ {
			require.Less(t, i, len(data)+1, "more records than bytes")
			rec, err := r.Next()
			if err != nil {
				if err != io.EOF {
					require.True(t, errors.Is(err, ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
				}
				return
			}
			switch rec.Kind {
			case KindDir, KindFile, KindLink, KindSymlink, KindSkipped:
				require.True(t, ValidName(rec.Name), "%q", rec.Name)
				require.Less(t, rec.Dir, dirs)
			}
			switch rec.Kind {
			case KindRoot, KindDir:
				dirs++
			case KindFile:
				require.GreaterOrEqual(t, rec.Size, int64(0))
				size, end = rec.Size, 0
				if rec.Linked {
					links++
				}
			case KindLink:
				require.Less(t, rec.Link, links)
			case KindExtent:
				require.GreaterOrEqual(t, rec.Off, end)
				require.Positive(t, rec.Len)
				require.LessOrEqual(t, rec.Off+rec.Len, size)
				require.GreaterOrEqual(t, rec.Phys, int64(0))
				require.GreaterOrEqual(t, rec.Phys+rec.Len, rec.Phys, "no overflow")
				end = rec.Off + rec.Len
			case KindData:
				require.GreaterOrEqual(t, rec.Off, end)
				require.LessOrEqual(t, rec.Off+int64(len(rec.Data)), size)
				require.LessOrEqual(t, len(rec.Data), MaxData)
				end = rec.Off + int64(len(rec.Data))
			case KindSymlink:
				require.NotEmpty(t, rec.Target)
				require.LessOrEqual(t, len(rec.Target), MaxTarget)
			}
		}
	})
}
