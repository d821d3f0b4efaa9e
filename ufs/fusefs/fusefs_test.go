package fusefs_test

import (
	"testing"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
	"github.com/gokernel/gokernel/ufs/fusefs"
)

func TestSmokeHost(t *testing.T) {
	dir := t.TempDir()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	mnt := mount(t, fsys, fusefs.Options{})
	t.Log(sh(t, mnt, `echo hi > a; mkdir d; ln -s a l; ln a d/h; ls -lai . d; cat l; stat a; find . -inum $(stat -c %i a); mv a b; ls -la; rm b l d/h; rmdir d; ls -la; df .`))
}
