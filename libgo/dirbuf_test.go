package libgo_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// A DirReader on a caller's buffer, even a small one, reads every entry.
func TestDirReaderBuffer(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		var want []string
		for i := range 50 {
			name := fmt.Sprintf("file-%02d", i)
			writeFileOn(t, lc, filepath.Join(dir, name), nil)
			want = append(want, name)
		}
		for _, size := range []int{300, 8192} {
			fd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			require.NoError(t, err)
			ents, err := lc.NewDirReaderBuffer(fd, make([]byte, size)).ReadAll()
			require.NoError(t, lc.Close(fd))
			require.NoError(t, err)
			var got []string
			for _, e := range ents {
				got = append(got, e.Name)
			}
			slices.Sort(got)
			require.Equal(t, want, got, "buffer of %d bytes", size)
		}
	})
}
