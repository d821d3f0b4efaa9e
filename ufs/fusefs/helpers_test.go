package fusefs_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/ufs"
	"github.com/gokernel/gokernel/ufs/fusefs"
)

// mount serves fsys at a new directory and returns it; the test's cleanup
// unmounts it (lazily, if a program still uses it, so a failing test
// leaves no mount behind) and waits for the server to stop.
func mount(t *testing.T, fsys *ufs.FS, opts fusefs.Options) string {
	t.Helper()
	mnt := t.TempDir()
	srv, err := fusefs.Mount(mnt, fsys, opts)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Logf("unmount %s: %v; detaching it", mnt, err)
			exec.Command("umount", "-l", mnt).Run()
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("the server of %s did not stop", mnt)
		}
		require.False(t, imagetest.Mounted(mnt), "%s is still mounted", mnt)
	})
	return mnt
}

// sh runs a shell script in dir (for at most five minutes) and returns its output; a failure fails
// the test with the output.
func sh(t *testing.T, dir, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s\n%s", script, out)
	return string(out)
}
