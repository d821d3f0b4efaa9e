package fusefs_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fsx runs fsxRun in a child process (the test binary again): a page
// fault on a mapping of a FUSE file, served by this very process, would
// stop the Go runtime's stop-the-world for good, since the faulting thread
// cannot be preempted while the server's goroutines wait for it.
func fsx(t *testing.T, path, twin string, seed uint64, ops int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$", "--", path, twin, strconv.FormatUint(seed, 10), strconv.Itoa(ops))
	cmd.Env = append(os.Environ(), "FUSEFS_TEST_FSX=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "fsx %s (seed %d, %d ops):\n%s", path, seed, ops, out)
}

// fsxChild runs fsxRun with the arguments after "--" and exits, when
// FUSEFS_TEST_FSX is set.
func fsxChild() {
	if os.Getenv("FUSEFS_TEST_FSX") != "1" {
		return
	}
	args := os.Args[len(os.Args)-4:]
	seed, _ := strconv.ParseUint(args[2], 10, 64)
	ops, _ := strconv.Atoi(args[3])
	if err := fsxRun(args[0], args[1], seed, ops); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// fsxRun is a small fsx (the file system exerciser of xfstests): ops random
// writes, reads, truncates, fsyncs and shared mmap reads, made on the
// same seed on path (on the mount) and on twin (on tmpfs), with every
// read, size and mapping compared between the two.
func fsxRun(path, twin string, seed uint64, ops int) error {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	g, err := os.OpenFile(twin, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer g.Close()
	const maxSize = 1 << 20
	buf := make([]byte, 64<<10)
	got, want := make([]byte, 64<<10), make([]byte, 64<<10)
	for i := range ops {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("fsx seed %d, op %d: %s", seed, i, fmt.Sprintf(format, args...))
		}
		switch op := r.IntN(10); {
		case op < 4: // write
			off, n := r.Int64N(maxSize), 1+r.IntN(len(buf))
			for j := range n {
				buf[j] = byte(r.Uint32())
			}
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return fail("write %d at %d: %v", n, off, err)
			}
			if _, err := g.WriteAt(buf[:n], off); err != nil {
				return err
			}
		case op < 7: // read
			off, n := r.Int64N(maxSize), 1+r.IntN(len(got))
			m1, err1 := f.ReadAt(got[:n], off)
			m2, err2 := g.ReadAt(want[:n], off)
			if m1 != m2 || err1 != err2 {
				return fail("read %d at %d: %d bytes, %v; twin %d, %v", n, off, m1, err1, m2, err2)
			}
			if !bytes.Equal(want[:m2], got[:m1]) {
				return fail("read %d at %d: contents differ", n, off)
			}
		case op < 8: // truncate
			n := r.Int64N(maxSize)
			if err := f.Truncate(n); err != nil {
				return fail("truncate %d: %v", n, err)
			}
			if err := g.Truncate(n); err != nil {
				return err
			}
		case op < 9:
			if err := f.Sync(); err != nil {
				return fail("fsync: %v", err)
			}
		default: // the whole file through a shared mapping
			fi, err := f.Stat()
			if err != nil {
				return fail("fstat: %v", err)
			}
			gi, err := g.Stat()
			if err != nil {
				return err
			}
			if fi.Size() != gi.Size() {
				return fail("size %d, twin %d", fi.Size(), gi.Size())
			}
			if fi.Size() == 0 {
				continue
			}
			m, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
			if err != nil {
				return fail("mmap: %v", err)
			}
			whole := make([]byte, gi.Size())
			_, err = g.ReadAt(whole, 0)
			same := bytes.Equal(m, whole)
			syscall.Munmap(m)
			if err != nil {
				return err
			}
			if !same {
				return fail("the mapping of %d bytes differs", fi.Size())
			}
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fsx: close: %v", err)
	}
	a, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(twin)
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("fsx seed %d: final contents differ (%d and %d bytes)", seed, len(a), len(b))
	}
	return nil
}
