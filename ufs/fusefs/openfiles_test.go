package fusefs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// openFiles: a release closes its handle's file once; closeAll (Server.Wait)
// closes the files of handles the kernel never released, and a release
// that comes after it closes nothing twice. The race it covers (a RELEASE
// lost to an unmount right after a program exits) is not reproducible at
// will: TestReadOnlyHost's fd count caught it 2 times in 60 before.
func TestOpenFilesCloseAll(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644))
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	_, err := fsys.Lstat("a") // the FS opens its root's fd on first use
	require.NoError(t, err)
	fdsBefore := countFDs(t)
	var o openFiles
	open := func() *ufs.File {
		f, err := fsys.OpenFile("a", os.O_RDONLY, 0)
		require.NoError(t, err)
		o.add(f)
		return f
	}
	released, kept := open(), open()
	d, err := fsys.OpenFile(".", os.O_RDONLY, 0)
	require.NoError(t, err)
	o.add(d)
	require.Equal(t, fdsBefore+3, countFDs(t))
	require.NoError(t, o.release(released))
	require.Equal(t, fdsBefore+2, countFDs(t))
	o.closeAll()
	require.Equal(t, fdsBefore, countFDs(t), "the unreleased handles' files are closed")
	require.NoError(t, o.release(kept), "a release after closeAll closes nothing again")
	_, err = kept.Stat()
	require.Error(t, err, "kept is closed")
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}
