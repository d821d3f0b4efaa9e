package libgo_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
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

func TestParseDirents(t *testing.T) {
	dot := direntRecord(2, 1, unix.DT_DIR, ".", 0)
	file := direntRecord(12, 2, unix.DT_REG, "file", 0)
	long := direntRecord(1<<40, -1, unix.DT_LNK, strings.Repeat("L", 255), 0)
	dotEnt := libgo.Dirent{Ino: 2, Off: 1, Type: unix.DT_DIR, Name: "."}
	fileEnt := libgo.Dirent{Ino: 12, Off: 2, Type: unix.DT_REG, Name: "file"}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	withReclen := func(rec []byte, reclen uint16) []byte {
		rec = bytes.Clone(rec)
		binary.NativeEndian.PutUint16(rec[16:], reclen)
		return rec
	}

	tests := []struct {
		name     string
		buf      []byte
		want     []libgo.Dirent
		consumed int
		wantErr  bool
	}{
		{"empty", nil, nil, 0, false},
		{"two records", cat(dot, file), []libgo.Dirent{dotEnt, fileEnt}, len(dot) + len(file), false},
		{"long name, large inode, negative offset", long, []libgo.Dirent{{Ino: 1 << 40, Off: -1, Type: unix.DT_LNK, Name: strings.Repeat("L", 255)}}, len(long), false},
		{"padding after the NUL is ignored", direntRecord(3, 3, unix.DT_REG, "ab", 40), []libgo.Dirent{{Ino: 3, Off: 3, Type: unix.DT_REG, Name: "ab"}}, 40, false},
		{"reclen not a multiple of 8", cat(direntRecord(3, 3, unix.DT_REG, "ab", 22), file), []libgo.Dirent{{Ino: 3, Off: 3, Type: unix.DT_REG, Name: "ab"}, fileEnt}, 22 + len(file), false},
		{"inode 0 is reported", direntRecord(0, 5, unix.DT_UNKNOWN, "gone", 0), []libgo.Dirent{{Off: 5, Name: "gone"}}, 24, false},
		{"reclen 0", cat(dot, withReclen(file, 0)), []libgo.Dirent{dotEnt}, len(dot), true},
		{"reclen smaller than the header", withReclen(file, 18), nil, 0, true},
		{"reclen past the buffer", cat(dot, withReclen(file, 200)), []libgo.Dirent{dotEnt}, len(dot), true},
		{"truncated header", cat(dot, file[:10]), []libgo.Dirent{dotEnt}, len(dot), true},
		{"truncated record", cat(dot, file[:len(file)-1]), []libgo.Dirent{dotEnt}, len(dot), true},
		{"name without NUL", withReclen(cat(file[:19], []byte("abcde")), 24), nil, 0, true},
		{"empty name", direntRecord(1, 1, unix.DT_REG, "", 24), nil, 0, true},
		{"0xCD garbage", bytes.Repeat([]byte{0xCD}, 64), nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, consumed, err := libgo.ParseDirents(tc.buf, nil)
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
		out := []libgo.Dirent{{Name: "before"}}
		got, _, err := libgo.ParseDirents(file, out)
		require.NoError(t, err)
		require.Equal(t, []libgo.Dirent{{Name: "before"}, fileEnt}, got)
	})
	t.Run("reads nothing past the buffer", func(t *testing.T) {
		// The record's reclen says 32 but the buffer stops after its
		// header and name: the 0xCD bytes beyond must not be read.
		backing := bytes.Repeat([]byte{0xCD}, 64)
		n := copy(backing, direntRecord(7, 7, unix.DT_REG, "abc", 32)[:23])
		_, consumed, err := libgo.ParseDirents(backing[:n], nil)
		require.ErrorIs(t, err, unix.EINVAL)
		require.Zero(t, consumed)
	})
}

func FuzzParseDirents(f *testing.F) {
	f.Add(twoRecords())
	f.Add(direntRecord(1, 1, unix.DT_REG, strings.Repeat("x", 255), 0))
	f.Add(direntRecord(1, 1, unix.DT_REG, "odd", 23))
	f.Add(append(twoRecords(), 0xCD, 0xCD))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		ents, consumed, err := libgo.ParseDirents(buf, nil)
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
		again, n, err := libgo.ParseDirents(buf[:consumed], nil)
		if err != nil || n != consumed || len(again) != len(ents) {
			t.Fatalf("re-decoding the consumed prefix: %d entries, %d bytes, %v; want %d, %d, nil", len(again), n, err, len(ents), consumed)
		}
	})
}

// endlessDir is a kernel whose getdents64 answers every call with the
// same entries, ending at the same d_off: the endless directory stream
// that LKL 4.9's btrfs serves for a hostile image (the image campaign's
// btrfs seeds 2592 and 5190). After `advance` calls it starts over from
// a different position, so those batches are a healthy stream.
type endlessDir struct {
	calls, advance int
	buf            []byte // the reader's buffer, which getdents64 fills
}

func (k *endlessDir) Name() string { return "endless-dir" }

func (k *endlessDir) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	if trap != unix.SYS_GETDENTS64 {
		return 0, 0, unix.ENOSYS
	}
	k.calls++
	off := int64(7)
	if k.calls <= k.advance {
		off = int64(k.calls) // a stream that advances
	}
	rec := direntRecord(uint64(k.calls), off, unix.DT_REG, "d.txt", 0)
	copy(k.buf, rec) // a2 is k.buf: written through the slice, as checkptr wants
	return uintptr(len(rec)), 0, 0
}

// A DirReader refuses a stream whose batch ends where the last one
// ended with EUCLEAN, after returning what came before, and stops
// calling the kernel: without the check, ReadAll would never return.
func TestDirReaderEndlessStream(t *testing.T) {
	k := &endlessDir{advance: 3, buf: make([]byte, 4096)}
	r := libgo.New(k).NewDirReaderBuffer(3, k.buf)
	ents, err := r.ReadAll()
	require.ErrorIs(t, err, syscall.EUCLEAN)
	require.Len(t, ents, 4, "the three advancing batches and the first at the stuck position")
	calls := k.calls
	_, err = r.Next()
	require.ErrorIs(t, err, syscall.EUCLEAN, "the error is sticky")
	require.Equal(t, calls, k.calls, "no getdents64 after the error")
}
