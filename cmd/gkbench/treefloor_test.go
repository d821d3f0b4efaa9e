package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// BenchmarkTreeHostFloor measures the host's share of cp-out's tree case
// alone: making cpbench.sh's 20,000 files of 1-8 KiB in 200 directories
// on tmpfs, each with the calls cp-out's workers make (openat O_CREAT,
// copy_file_range from a file on the same tmpfs, futimens, close), from
// one goroutine, with no LKL and no walker. cpu-s/op is the process's
// CPU time per tree: the floor under cp-out's host side (docs/ufs.md).
//
//	go test -run '^$' -bench TreeHostFloor -benchtime 5x ./cmd/gkbench
func BenchmarkTreeHostFloor(b *testing.B) {
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		b.Skip("needs /dev/shm (tmpfs), where cpbench.sh writes its outputs")
	}
	work, err := os.MkdirTemp("/dev/shm", "gk-treefloor")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(work)
	l := libgo.New(sys.Host())
	src := work + "/src"
	if err := os.WriteFile(src, make([]byte, 8<<10), 0o644); err != nil {
		b.Fatal(err)
	}
	sfd, err := l.Openat(unix.AT_FDCWD, src, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(sfd)
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("f%03d", i)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(1e18), unix.NsecToTimespec(2e18)}
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root := fmt.Sprintf("%s/t%d", work, i)
		if err := os.Mkdir(root, 0o755); err != nil {
			b.Fatal(err)
		}
		cpu0 := kerneltest.CPUTime()
		b.StartTimer()
		for d := range 200 {
			dir := fmt.Sprintf("%s/d%d", root, d)
			if err := l.Mkdirat(unix.AT_FDCWD, dir, 0o755); err != nil {
				b.Fatal(err)
			}
			dfd, err := l.Openat(unix.AT_FDCWD, dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			size := 1024 * (1 + d%8)
			for _, name := range names {
				fd, err := l.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				var roff, woff int64
				if n, err := l.CopyFileRange(sfd, &roff, fd, &woff, size, 0); err != nil || n != size {
					b.Fatalf("copy_file_range: %d, %v", n, err)
				}
				if err := l.Futimens(fd, ts); err != nil {
					b.Fatal(err)
				}
				if err := l.Close(fd); err != nil {
					b.Fatal(err)
				}
			}
			l.Close(dfd)
		}
		b.StopTimer()
		cpu += kerneltest.CPUTime() - cpu0
		os.RemoveAll(root) // not timed
		b.StartTimer()
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}
