package fusefs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// lockChild, in the child process checkLocks starts, tries a write lock
// on the whole file named after "--" with fcntl(F_SETLK) and prints
// "locked" or the error, then exits.
func lockChild() {
	if os.Getenv("FUSEFS_TEST_LOCK") != "1" {
		return
	}
	f, err := os.OpenFile(os.Args[len(os.Args)-1], os.O_RDWR, 0)
	if err == nil {
		err = unix.FcntlFlock(f.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK, Whence: 0})
	}
	if err == nil {
		fmt.Println("locked")
	} else {
		fmt.Println(err)
	}
	os.Exit(0)
}

// tryLockInChild runs lockChild on path and returns what it printed.
func tryLockInChild(t *testing.T, path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "--", path)
	cmd.Env = append(os.Environ(), "FUSEFS_TEST_LOCK=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// checkLocks takes flock(1) and fcntl locks on the mounted tree mnt from
// two processes (or two open files) and checks that they conflict, wait
// and are released as on a local file system; a waiter that gives up
// (timeout(1) kills it) leaves nothing stuck. Whether the locks went to
// the FS's kernel (flock on the host kernel) or stayed in the host's (LKL
// has no file locking), programs must see the same. backing, if not "", is the
// directory the mount serves, on the host kernel: a flock taken through
// the mount is seen there, so it was forwarded.
func checkLocks(t *testing.T, mnt, backing string) {
	sh(t, mnt, `: > lockf`)
	if backing != "" {
		require.Equal(t, "busy\n", sh(t, mnt, `exec 9> lockf; flock -x 9; flock -n "`+backing+`/lockf" true && echo got || echo busy`))
	}
	require.Equal(t, "busy\nfree\n", sh(t, mnt, `exec 9> lockf; flock -x 9
(flock -n lockf true && echo got || echo busy)
flock -u 9; flock -n lockf true && echo free`))
	require.Equal(t, "shared\n", sh(t, mnt, `exec 9< lockf; flock -s 9; flock -n -s lockf echo shared`))
	require.Equal(t, "waited\n", sh(t, mnt, `exec 9> lockf; flock -x 9
(flock -x lockf echo waited) & sleep 0.3; flock -u 9; wait`))
	require.Equal(t, "124\nfree\n", sh(t, mnt, `exec 9> lockf; flock -x 9
timeout 1 flock -x lockf true || echo $?; exec 9>&-; flock -n lockf echo free`))

	// fcntl: this process holds a write lock on a range; another process
	// cannot lock the file until it is released.
	path := filepath.Join(mnt, "lockf")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, unix.FcntlFlock(f.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK, Start: 0, Len: 10}))
	got := tryLockInChild(t, path)
	require.True(t, (got == unix.EAGAIN.Error()+"\n" || got == unix.EACCES.Error()+"\n"), "the child's lock: %q", got)
	require.NoError(t, unix.FcntlFlock(f.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_UNLCK, Start: 0, Len: 10}))
	require.Equal(t, "locked\n", tryLockInChild(t, path))
	sh(t, mnt, `rm lockf`)
}
