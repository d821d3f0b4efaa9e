package ufs

import (
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/sys"
)

// TestDirectCopy copies ranges of an "image" file into an output file on
// the host, with copy_file_range and with the pread/pwrite fallback it
// takes where the host refuses copy_file_range.
func TestDirectCopy(t *testing.T) {
	dir := t.TempDir()
	img := make([]byte, 3<<20+123)
	for i := range img {
		img[i] = byte(i*7 + i>>11)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "img"), img, 0o600))
	host := New(sys.Host(), dir)
	defer host.Close()
	in, err := host.OpenFile("img", os.O_RDONLY, 0)
	require.NoError(t, err)
	defer in.Close()

	tests := []struct {
		name           string
		off, phys, n   int64
		wantUnexpected bool // the range runs past the image's end
	}{
		{"small, unaligned", 5, 4097, 1234, false},
		{"several MiB", 1 << 20, 12345, 2<<20 + 77, false},
		{"to the image's end", 0, int64(len(img)) - 4000, 4000, false},
		{"past the image's end", 0, int64(len(img)) - 10, 4000, true},
	}
	for _, cfr := range []bool{true, false} {
		for _, tc := range tests {
			name := tc.name + map[bool]string{true: " (copy_file_range)", false: " (pread+pwrite)"}[cfr]
			t.Run(name, func(t *testing.T) {
				d := &direct{img: in}
				d.nocfr.Store(!cfr)
				var bytes atomic.Int64
				c := NewCopier(host, CopyOptions{Progress: func(_, n int64) { bytes.Add(n) }})
				c.direct = d
				out, err := host.OpenFile("out", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
				require.NoError(t, err)
				defer out.Close()
				err = d.copy(c, out, tc.off, tc.phys, tc.n)
				if tc.wantUnexpected {
					require.ErrorIs(t, err, io.ErrUnexpectedEOF)
					return
				}
				require.NoError(t, err)
				got, err := os.ReadFile(filepath.Join(dir, "out"))
				require.NoError(t, err)
				require.Len(t, got, int(tc.off+tc.n))
				require.Equal(t, make([]byte, tc.off), got[:tc.off], "a hole before off")
				require.Equal(t, img[tc.phys:tc.phys+tc.n], got[tc.off:], "the bytes at phys")
				require.Equal(t, tc.n, bytes.Load())
				if cfr && d.nocfr.Load() {
					t.Log("this host refused copy_file_range: the fallback ran")
				}
			})
		}
	}
}
