package fusefs_test

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
	"github.com/gokernel/gokernel/ufs/fusefs"
)

// Serve a directory tree at a mount point until it is unmounted or the
// program is interrupted. Here the tree is on the host kernel; on LKL it
// is a disk image's (see cmd/demo's mount command). It needs FUSE, so it
// is compiled, not run, by go test (TestProgramsHost runs the same).
func ExampleMount() {
	fsys := ufs.New(sys.Host(), "/srv/data")
	defer fsys.Close()
	srv, err := fusefs.Mount("/mnt/data", fsys, fusefs.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	go func() { <-stop; srv.Unmount() }()
	srv.Wait() // until unmounted: here, or by fusermount3 -u /mnt/data
}
