//go:build lkl

package ufs_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/ufs"
)

func init() { children["crash-writer"] = crashWriter }

// crashContent is what the crash writer puts in its i-th file: 4 KiB to
// about 1 MiB.
func crashContent(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("file %d, fsynced before the kill\n", i)), 100+i*997%30000)
}

// crashWriter is the child of TestCrashConsistency: it boots LKL with the
// image, writes and fsyncs files one after another, reporting each on
// stdout once it and its directory are synced, while another goroutine
// keeps overwriting a large file it never syncs. It runs until killed.
func crashWriter() error {
	k, err := lkl.Boot(&lkl.Config{Memory: "128M", Disks: []lkl.Disk{{Path: os.Getenv("UFS_CRASH_IMAGE"), FSType: "ext4", MountPoint: "/mnt/crash"}}})
	if err != nil {
		return err
	}
	fsys := ufs.New(k, "/mnt/crash")
	dir, err := fsys.OpenFile(".", os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	errs := make(chan error, 1)
	go func() {
		f, err := fsys.Create("unsynced.bin")
		if err != nil {
			errs <- err
			return
		}
		chunk := bytes.Repeat([]byte("churn"), 1<<18)
		for i := 0; ; i++ {
			if _, err := f.WriteAt(chunk, int64(i%8)*int64(len(chunk))); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i := 0; ; i++ {
		select {
		case err := <-errs:
			return err
		default:
		}
		name := fmt.Sprintf("synced-%03d", i)
		f, err := fsys.Create(name)
		if err != nil {
			return err
		}
		if _, err := f.Write(crashContent(i)); err != nil {
			return err
		}
		if err := errors.Join(f.Sync(), f.Close(), dir.Sync()); err != nil {
			return err
		}
		fmt.Printf("synced %s\n", name)
	}
}

// A writer killed (SIGKILL) mid-write through LKL leaves an image that
// e2fsck recovers (journal replay), with every file fsynced before the
// kill intact.
func TestCrashConsistency(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"before.txt": "made on the host\n"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "UFS_TEST_CHILD=crash-writer", "UFS_CRASH_IMAGE="+img)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var synced []string
	sc := bufio.NewScanner(out)
	for len(synced) < 8 && sc.Scan() {
		name, ok := strings.CutPrefix(sc.Text(), "synced ")
		require.True(t, ok, "child said %q", sc.Text())
		synced = append(synced, name)
	}
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	require.Len(t, synced, 8, "the child stopped early: %s", stderr.String())

	// e2fsck -fy: 0 (clean) or 1 (fixed, e.g. journal replayed) is a
	// recovered file system; then -fn must find nothing.
	e2fsck, err := exec.LookPath("e2fsck")
	if err != nil {
		e2fsck = "/usr/sbin/e2fsck" // outside a non-root PATH
	}
	fix := exec.Command(e2fsck, "-fy", img)
	fixOut, err := fix.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 1 {
		t.Fatalf("e2fsck -fy: %v\n%s", err, fixOut)
	}
	t.Logf("e2fsck -fy after the kill:\n%s", fixOut)
	imagetest.Run(t, "e2fsck", "-fn", img)

	fsys, _ := attach(t, img, "ext4", true)
	for i, name := range synced {
		got, err := fsys.ReadFile(name)
		require.NoError(t, err, name)
		require.True(t, bytes.Equal(crashContent(i), got), "%s differs after the crash", name)
	}
	require.Equal(t, string(crashContent(0)), debugfs(t, img, "cat /"+synced[0]))
}
