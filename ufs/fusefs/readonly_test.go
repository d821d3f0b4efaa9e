package fusefs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
	"github.com/gokernel/gokernel/ufs/fusefs"
)

// openFDs counts this process's open fds.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// TestReadOnlyHost reads a tree of more files than a mount keeps open
// (each with an xattr) through a read-only mount, which the host kernel
// serves without OPEN and RELEASE: cp -a out keeps data, modes, xattrs
// and links; getfattr sees every attribute; a file is read while its fd
// is evicted and reopened. The files a mount keeps open (here on the host
// kernel, so they are this process's fds) are all closed by Wait.
func TestReadOnlyHost(t *testing.T) {
	src := t.TempDir()
	sh(t, src, `for d in 1 2 3; do mkdir d$d; for i in $(seq 60); do echo "$d $i" > d$d/f$i; setfattr -n user.n -v "$d.$i" d$d/f$i; done; done
ln -s d1/f1 link && ln d1/f2 hard && chmod 0640 d2/f7`)
	fsys := ufs.New(sys.Host(), src)
	defer fsys.Close()
	_, err := fsys.Lstat(".") // opens the FS's root, which stays open
	require.NoError(t, err)
	before := openFDs(t)
	mnt := t.TempDir()
	srv, err := fusefs.Mount(mnt, fsys, fusefs.Options{ReadOnly: true})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	t.Cleanup(func() {
		if imagetest.Mounted(mnt) {
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	out := filepath.Join(t.TempDir(), "out")
	sh(t, mnt, `cp -a . "`+out+`" && diff -r --no-dereference "`+src+`" "`+out+`"`)
	want := sh(t, src, `getfattr -R -d --absolute-names . | grep -c user.n=`)
	require.Equal(t, "182\n", want, "180 files, the hard link and the symlink (followed)")
	require.Equal(t, want, sh(t, mnt, `getfattr -R -d --absolute-names . | grep -c user.n=`))
	require.Equal(t, want, sh(t, out, `getfattr -R -d --absolute-names . | grep -c user.n=`), "cp -a copied the xattrs")
	require.Equal(t, "640\n2\n", sh(t, mnt, `stat -c %a d2/f7; stat -c %h hard`))
	require.Equal(t, "1 1\n", sh(t, mnt, `cat link`))
	// A read that outlives its file's place in the cache: 70 other files
	// are read in between.
	require.Equal(t, "3 60\n1 1\n", sh(t, mnt, `exec 3< d3/f60; cat d1/* d2/* > /dev/null; cat <&3; cat d1/f1`))
	require.Contains(t, sh(t, mnt, `touch x 2>&1 || true`), "Read-only file system")
	require.NoError(t, srv.Unmount())
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop")
	}
	require.Equal(t, before, openFDs(t), "the mount's files are all closed")
}

// TestNoXattrsHost mounts with NoXattrs: programs see no xattrs (and cp -a
// copies the files all the same).
func TestNoXattrsHost(t *testing.T) {
	src := t.TempDir()
	sh(t, src, `echo a > a && setfattr -n user.n -v 1 a`)
	fsys := ufs.New(sys.Host(), src)
	defer fsys.Close()
	mnt := mount(t, fsys, fusefs.Options{ReadOnly: true, NoXattrs: true})
	msg := sh(t, mnt, `getfattr -n user.n a 2>&1 || true`)
	require.True(t, strings.Contains(msg, "Operation not supported"), "getfattr: %s", msg)
	out := filepath.Join(t.TempDir(), "out")
	sh(t, mnt, `cp -a . "`+out+`" && cmp a "`+out+`/a"`)
}
