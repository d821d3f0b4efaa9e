package datamap

import (
	"encoding/binary"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// seeker is a kernel whose lseek answers SEEK_DATA and SEEK_HOLE from a
// list of data runs, or with err for every call.
type seeker struct {
	runs  [][2]int64
	err   syscall.Errno
	wrong bool // SEEK_DATA answers 0, whatever the offset asked for
}

func (k *seeker) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	if trap != unix.SYS_LSEEK {
		return 0, 0, syscall.ENOSYS
	}
	if k.err != 0 {
		return 0, 0, k.err
	}
	off := int64(a2)
	switch int(a3) {
	case unix.SEEK_DATA:
		if k.wrong {
			return 0, 0, 0
		}
		for _, r := range k.runs {
			if off < r[1] {
				return uintptr(max(off, r[0])), 0, 0
			}
		}
		return 0, 0, syscall.ENXIO
	case unix.SEEK_HOLE:
		for _, r := range k.runs {
			if off >= r[0] && off < r[1] {
				return uintptr(r[1]), 0, 0
			}
		}
		return uintptr(off), 0, 0
	}
	return 0, 0, syscall.EINVAL
}

func runsOf(k Kernel, size int64) [][2]int64 {
	var got [][2]int64
	for s, e := range Runs(k, 3, size) {
		got = append(got, [2]int64{s, e})
	}
	return got
}

func TestRuns(t *testing.T) {
	sparse := [][2]int64{{4096, 8192}, {1 << 20, 1<<20 + 10}}
	require.Equal(t, sparse, runsOf(&seeker{runs: sparse}, 1<<20+10), "a sparse file: its runs only")
	require.Equal(t, [][2]int64{{0, 100}}, runsOf(&seeker{runs: [][2]int64{{0, 1 << 30}}}, 100), "a run past size ends at size")
	require.Empty(t, runsOf(&seeker{}, 1<<40), "all hole (a 1 TiB file of nothing): nothing to read")
	require.Equal(t, [][2]int64{{0, 5000}}, runsOf(&seeker{err: syscall.EINVAL}, 5000), "no SEEK_DATA: the whole file")
	require.Equal(t, [][2]int64{{0, 10}, {10, 5000}}, runsOf(&seeker{runs: [][2]int64{{0, 10}}, wrong: true}, 5000), "SEEK_DATA going backwards: the rest whole, and an end")
	require.Empty(t, runsOf(&seeker{runs: sparse}, 0), "an empty file")
	n := 0
	for range Runs(&seeker{runs: sparse}, 3, 1<<20+10) {
		n++
		break
	}
	require.Equal(t, 1, n, "a range loop may stop early")
}

// mapper is a kernel whose FS_IOC_FIEMAP maps a file of the extents exts,
// writing its answer through m's buffer (as checkptr wants: no pointer
// made from the call's uintptr).
type mapper struct {
	m     *Mapper
	exts  []FiemapExtent
	calls int
	eintr int           // answer EINTR this many times first
	err   syscall.Errno // answer this
	claim int           // with > 0, say this many extents were mapped
}

func (k *mapper) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	k.calls++
	if trap != unix.SYS_IOCTL || a2 != FS_IOC_FIEMAP || a3 != uintptr(unsafe.Pointer(&k.m.words[0])) {
		return 0, 0, syscall.ENOTTY
	}
	if k.eintr > 0 {
		k.eintr--
		return 0, 0, syscall.EINTR
	}
	if k.err != 0 {
		return 0, 0, k.err
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&k.m.words[0])), len(k.m.words)*8)
	ne := binary.NativeEndian
	start, count := ne.Uint64(buf[0:]), int(ne.Uint32(buf[24:]))
	n := 0
	for _, x := range k.exts {
		if x.Logical+x.Length <= start && x.Length != 0 || n == count {
			continue
		}
		e := buf[fiemapHeader+n*fiemapExtent:]
		ne.PutUint64(e[0:], x.Logical)
		ne.PutUint64(e[8:], x.Physical)
		ne.PutUint64(e[16:], x.Length)
		ne.PutUint32(e[40:], x.Flags)
		n++
	}
	if k.claim > 0 {
		n = k.claim
	}
	ne.PutUint32(buf[20:], uint32(n))
	return 0, 0, 0
}

func TestFiemap(t *testing.T) {
	var m Mapper
	exts := []FiemapExtent{
		{Logical: 0, Physical: 1 << 20, Length: 4096},
		{Logical: 8192, Physical: 1 << 30, Length: 8192, Flags: FIEMAP_EXTENT_LAST},
	}
	k := &mapper{m: &m, exts: exts, eintr: 2}
	out := make([]FiemapExtent, 4)
	n, e := m.Fiemap(k, 3, 0, 1<<20, 0, out)
	require.Zero(t, e)
	require.Equal(t, exts, out[:n])
	require.Equal(t, 3, k.calls, "EINTR retried")

	_, e = m.Fiemap(k, 3, 0, 1<<20, 0, nil)
	require.Equal(t, syscall.EINVAL, e, "no room for an extent")
	k.claim = 5
	_, e = m.Fiemap(k, 3, 0, 1<<20, 0, out[:4])
	require.Equal(t, syscall.EINVAL, e, "a kernel claiming more extents than it had room for")
	k.claim, k.err = 0, syscall.EOPNOTSUPP
	_, e = m.Fiemap(k, 3, 0, 1<<20, 0, out)
	require.Equal(t, syscall.EOPNOTSUPP, e, "vfat on Linux 4.9")
	require.EqualValues(t, 56, unsafe.Sizeof(FiemapExtent{}), "struct fiemap_extent")
	require.EqualValues(t, 40, unsafe.Offsetof(FiemapExtent{}.Flags))
}

func TestExtents(t *testing.T) {
	const size = 3 * 4096
	plain := []FiemapExtent{
		{Logical: 0, Physical: 1 << 20, Length: 4096},
		{Logical: 4096, Physical: 0, Length: 4096, Flags: FIEMAP_EXTENT_UNWRITTEN},
		{Logical: 8192, Physical: 1 << 30, Length: 1 << 20, Flags: FIEMAP_EXTENT_LAST}, // past size: clipped
	}
	tests := []struct {
		name string
		exts []FiemapExtent
		want []Extent
		ok   bool
	}{
		{"plain, an unwritten one a hole, the last clipped to size", plain, []Extent{{0, 4096, 1 << 20}, {8192, 4096, 1 << 30}}, true},
		{"no extents: all hole", nil, nil, true},
		{"inline data", []FiemapExtent{{Logical: 0, Physical: 4096, Length: 100, Flags: FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_LAST}}, nil, false},
		{"delayed allocation", []FiemapExtent{{Logical: 0, Length: 4096, Flags: FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN}}, nil, false},
		{"an overflowing extent", []FiemapExtent{{Logical: 4096, Physical: 0, Length: ^uint64(0) - 100}}, nil, false},
		{"a length past int64", []FiemapExtent{{Logical: 0, Physical: 8192, Length: 1<<63 + 5, Flags: FIEMAP_EXTENT_LAST}}, []Extent{{0, size, 8192}}, true},
		{"beyond 2^62 on the device", []FiemapExtent{{Logical: 0, Physical: 1<<62 + 1, Length: 4096}}, nil, false},
		{"out of order", []FiemapExtent{{Logical: 8192, Physical: 1 << 20, Length: 4096}, {Logical: 0, Physical: 1 << 21, Length: 4096}}, nil, false},
		{"overlapping", []FiemapExtent{{Logical: 0, Physical: 1 << 20, Length: 8192}, {Logical: 4096, Physical: 1 << 21, Length: 4096, Flags: FIEMAP_EXTENT_LAST}}, nil, false},
		{"empty and past-the-end extents are holes", []FiemapExtent{{Logical: 0, Length: 0, Physical: 1}, {Logical: size, Length: 4096, Physical: 2, Flags: FIEMAP_EXTENT_LAST}}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Mapper
			got, ok := m.Extents(&mapper{m: &m, exts: tc.exts}, 3, size)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("many batches", func(t *testing.T) {
		const n = 600 // more than a batch of 256
		var exts []FiemapExtent
		for i := range n {
			exts = append(exts, FiemapExtent{Logical: uint64(i) * 8192, Physical: uint64(i) * 4096, Length: 4096})
		}
		exts[n-1].Flags = FIEMAP_EXTENT_LAST
		var m Mapper
		k := &mapper{m: &m, exts: exts}
		got, ok := m.Extents(k, 3, n*8192)
		require.True(t, ok)
		require.Len(t, got, n)
		require.Equal(t, Extent{(n - 1) * 8192, 4096, (n - 1) * 4096}, got[n-1])
		require.Equal(t, 3, k.calls, "256 extents a call")
	})
	t.Run("a map that does not advance ends", func(t *testing.T) {
		var m Mapper
		k := &mapper{m: &m, exts: []FiemapExtent{{Logical: 0, Physical: 4096, Length: 0}}}
		got, ok := m.Extents(k, 3, size)
		require.True(t, ok)
		require.Empty(t, got)
		require.Equal(t, 1, k.calls)
	})
	t.Run("FIEMAP refused", func(t *testing.T) {
		var m Mapper
		_, ok := m.Extents(&mapper{m: &m, err: syscall.EOPNOTSUPP}, 3, size)
		require.False(t, ok)
	})
}
