package dirent_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/dirent"
)

// direntRecord encodes one struct linux_dirent64: name, its NUL and zero
// padding to a multiple of 8, unless reclen > 0 sets d_reclen (and the
// record's length, up to the bytes there are) explicitly.
func direntRecord(ino uint64, off int64, typ uint8, name string, reclen int) []byte {
	b := make([]byte, 19, 19+len(name)+8)
	binary.NativeEndian.PutUint64(b[0:], ino)
	binary.NativeEndian.PutUint64(b[8:], uint64(off))
	b[18] = typ
	b = append(b, name...)
	b = append(b, 0)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	if reclen == 0 {
		reclen = len(b)
	}
	for len(b) < reclen {
		b = append(b, 0)
	}
	binary.NativeEndian.PutUint16(b[16:], uint16(reclen))
	return b[:reclen]
}

// twoRecords is a valid getdents64 buffer: "." and "file".
func twoRecords() []byte {
	return append(direntRecord(2, 1, unix.DT_DIR, ".", 0), direntRecord(12, 2, unix.DT_REG, "file", 0)...)
}

func TestParse(t *testing.T) {
	dot := direntRecord(2, 1, unix.DT_DIR, ".", 0)
	file := direntRecord(12, 2, unix.DT_REG, "file", 0)
	long := direntRecord(1<<40, -1, unix.DT_LNK, strings.Repeat("L", 255), 0)
	dotEnt := dirent.Dirent{Ino: 2, Off: 1, Type: unix.DT_DIR, Name: "."}
	fileEnt := dirent.Dirent{Ino: 12, Off: 2, Type: unix.DT_REG, Name: "file"}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	withReclen := func(rec []byte, reclen uint16) []byte {
		rec = bytes.Clone(rec)
		binary.NativeEndian.PutUint16(rec[16:], reclen)
		return rec
	}

	tests := []struct {
		name     string
		buf      []byte
		want     []dirent.Dirent
		consumed int
		wantErr  bool
	}{
		{"empty", nil, nil, 0, false},
		{"two records", cat(dot, file), []dirent.Dirent{dotEnt, fileEnt}, len(dot) + len(file), false},
		{"long name, large inode, negative offset", long, []dirent.Dirent{{Ino: 1 << 40, Off: -1, Type: unix.DT_LNK, Name: strings.Repeat("L", 255)}}, len(long), false},
		{"padding after the NUL is ignored", direntRecord(3, 3, unix.DT_REG, "ab", 40), []dirent.Dirent{{Ino: 3, Off: 3, Type: unix.DT_REG, Name: "ab"}}, 40, false},
		{"reclen not a multiple of 8", cat(direntRecord(3, 3, unix.DT_REG, "ab", 22), file), []dirent.Dirent{{Ino: 3, Off: 3, Type: unix.DT_REG, Name: "ab"}, fileEnt}, 22 + len(file), false},
		{"inode 0 is reported", direntRecord(0, 5, unix.DT_UNKNOWN, "gone", 0), []dirent.Dirent{{Off: 5, Name: "gone"}}, 24, false},
		{"reclen 0", cat(dot, withReclen(file, 0)), []dirent.Dirent{dotEnt}, len(dot), true},
		{"reclen smaller than the header", withReclen(file, 18), nil, 0, true},
		{"reclen past the buffer", cat(dot, withReclen(file, 200)), []dirent.Dirent{dotEnt}, len(dot), true},
		{"truncated header", cat(dot, file[:10]), []dirent.Dirent{dotEnt}, len(dot), true},
		{"truncated record", cat(dot, file[:len(file)-1]), []dirent.Dirent{dotEnt}, len(dot), true},
		{"name without NUL", withReclen(cat(file[:19], []byte("abcde")), 24), nil, 0, true},
		{"empty name", direntRecord(1, 1, unix.DT_REG, "", 24), nil, 0, true},
		{"0xCD garbage", bytes.Repeat([]byte{0xCD}, 64), nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, consumed, err := dirent.Parse(tc.buf, nil)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.consumed, consumed)
			if tc.wantErr {
				require.ErrorIs(t, err, unix.EINVAL)
			} else {
				require.NoError(t, err)
			}
		})
	}

	t.Run("appends to out", func(t *testing.T) {
		out := []dirent.Dirent{{Name: "before"}}
		got, _, err := dirent.Parse(file, out)
		require.NoError(t, err)
		require.Equal(t, []dirent.Dirent{{Name: "before"}, fileEnt}, got)
	})
	t.Run("reads nothing past the buffer", func(t *testing.T) {
		// The record's reclen says 32 but the buffer stops after its
		// header and name: the 0xCD bytes beyond must not be read.
		backing := bytes.Repeat([]byte{0xCD}, 64)
		n := copy(backing, direntRecord(7, 7, unix.DT_REG, "abc", 32)[:23])
		_, consumed, err := dirent.Parse(backing[:n], nil)
		require.ErrorIs(t, err, unix.EINVAL)
		require.Zero(t, consumed)
	})
}

func FuzzParse(f *testing.F) {
	f.Add(twoRecords())
	f.Add(direntRecord(1, 1, unix.DT_REG, strings.Repeat("x", 255), 0))
	f.Add(direntRecord(1, 1, unix.DT_REG, "odd", 23))
	f.Add(append(twoRecords(), 0xCD, 0xCD))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		ents, consumed, err := dirent.Parse(buf, nil)
		if consumed < 0 || consumed > len(buf) {
			t.Fatalf("consumed %d of %d bytes", consumed, len(buf))
		}
		if err == nil && consumed != len(buf) {
			t.Fatalf("no error, but consumed %d of %d bytes", consumed, len(buf))
		}
		if err != nil && err != unix.EINVAL {
			t.Fatalf("error %v, want EINVAL", err)
		}
		total := 0
		for _, e := range ents {
			if e.Name == "" || strings.IndexByte(e.Name, 0) >= 0 {
				t.Fatalf("bad name %q", e.Name)
			}
			total += 19 + len(e.Name) + 1 // at least header, name and NUL
		}
		if total > consumed {
			t.Fatalf("%d entries need %d bytes, but only %d were consumed", len(ents), total, consumed)
		}
		// Decoding what was consumed again gives the same entries.
		again, n, err := dirent.Parse(buf[:consumed], nil)
		if err != nil || n != consumed || len(again) != len(ents) {
			t.Fatalf("re-decoding the consumed prefix: %d entries, %d bytes, %v; want %d, %d, nil", len(again), n, err, len(ents), consumed)
		}
	})
}

// Append writes what Parse reads back, padded as Linux pads, and refuses
// names it cannot encode.
func TestAppend(t *testing.T) {
	in := []dirent.Dirent{
		{Ino: 2, Off: 1, Type: unix.DT_DIR, Name: "."},
		{Ino: 1 << 40, Off: -1, Type: unix.DT_LNK, Name: strings.Repeat("L", 255)},
		{Ino: 12, Off: 2, Type: unix.DT_REG, Name: "file"},
	}
	var buf []byte
	for _, d := range in {
		var err error
		buf, err = dirent.Append(buf, d)
		require.NoError(t, err)
		require.Zero(t, len(buf)%8, "records are padded to 8 bytes")
	}
	require.Equal(t, direntRecord(12, 2, unix.DT_REG, "file", 0), buf[len(buf)-24:], "the layout getdents64 writes")
	got, n, err := dirent.Parse(buf, nil)
	require.NoError(t, err)
	require.Equal(t, len(buf), n)
	require.Equal(t, in, got)
	for _, name := range []string{"", "a\x00b", strings.Repeat("x", 70000)} {
		b, err := dirent.Append(buf, dirent.Dirent{Ino: 1, Name: name})
		require.ErrorIs(t, err, syscall.EINVAL, "name %.20q", name)
		require.Equal(t, buf, b, "nothing appended")
	}
}

// A Stream's batches: listings leave out ".", ".." and inode 0, a
// malformed record ends the batch after the good entries, and a batch
// that ends where the last one ended is refused (EUCLEAN) whole.
func TestStreamBatch(t *testing.T) {
	rec := func(ino uint64, off int64, name string) []byte {
		b, err := dirent.Append(nil, dirent.Dirent{Ino: ino, Off: off, Type: unix.DT_REG, Name: name})
		require.NoError(t, err)
		return b
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	var s dirent.Stream
	out := []dirent.Dirent{{Name: "before"}}
	out, err := s.Batch(cat(rec(2, 1, "."), rec(1, 2, ".."), rec(0, 3, "gone"), rec(5, 4, "a")), out)
	require.NoError(t, err)
	require.Equal(t, []dirent.Dirent{{Name: "before"}, {Ino: 5, Off: 4, Type: unix.DT_REG, Name: "a"}}, out)

	out, err = s.Batch(cat(rec(6, 9, "b"), []byte{1, 2, 3}), out[:0])
	require.ErrorIs(t, err, syscall.EINVAL)
	require.Equal(t, []dirent.Dirent{{Ino: 6, Off: 9, Type: unix.DT_REG, Name: "b"}}, out, "the good entries before the bad record")

	out, err = s.Batch(rec(7, 9, "c"), out[:0])
	require.ErrorIs(t, err, syscall.EUCLEAN, "ends at d_off 9 again: the stream does not move")
	require.Empty(t, out)

	var fresh dirent.Stream
	out, err = fresh.Batch(rec(7, 9, "c"), nil)
	require.NoError(t, err, "a first batch has nothing to repeat")
	require.Len(t, out, 1)
}
