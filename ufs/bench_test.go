package ufs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// ufs on the host against os, the reference: impl=os, impl=ufs (and
// impl=ufs-lkl, ufs on LKL's root file system, with -tags lkl), so that
// benchstat -col /impl prints the ratios. ufs pays for confinement (one
// openat per path component, no openat2 on LKL) where os opens the whole
// path at once.

// benchTree makes dirs directories of files 4 KiB files each under a
// fresh directory of k, through ufs, and returns the directory.
func benchTree(b *testing.B, k sys.Kernel, dirs, files int) string {
	root := kerneltest.TempDir(b, k)
	fsys := ufs.New(k, root)
	defer fsys.Close()
	data := make([]byte, 4096)
	for d := range dirs {
		dir := fmt.Sprintf("d%03d", d)
		if err := fsys.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range files {
			if err := fsys.WriteFile(fmt.Sprintf("%s/f%04d", dir, f), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root
}

// onKernels runs f as impl=ufs on the host and impl=ufs-KERNEL on every
// other kernel of this test binary (LKL with -tags lkl), each on a tree
// of its own.
func onKernels(b *testing.B, dirs, files int, f func(b *testing.B, fsys *ufs.FS)) {
	for _, kname := range kerneltest.Kernels() {
		name := "impl=ufs"
		if kname != "host" {
			name += "-" + kname
		}
		b.Run(name, func(b *testing.B) {
			k, _ := kerneltest.Lookup(b, kname)
			fsys := ufs.New(k, benchTree(b, k, dirs, files))
			defer fsys.Close()
			f(b, fsys)
		})
	}
}

func BenchmarkReadFile4K(b *testing.B) {
	root := benchTree(b, sys.Host(), 1, 1)
	b.Run("impl=os", func(b *testing.B) {
		name := filepath.Join(root, "d000", "f0000")
		for b.Loop() {
			if _, err := os.ReadFile(name); err != nil {
				b.Fatal(err)
			}
		}
	})
	onKernels(b, 1, 1, func(b *testing.B, fsys *ufs.FS) {
		for b.Loop() {
			if _, err := fsys.ReadFile("d000/f0000"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReadDir1000(b *testing.B) {
	root := benchTree(b, sys.Host(), 1, 1000)
	b.Run("impl=os", func(b *testing.B) {
		for b.Loop() {
			if _, err := os.ReadDir(filepath.Join(root, "d000")); err != nil {
				b.Fatal(err)
			}
		}
	})
	onKernels(b, 1, 1000, func(b *testing.B, fsys *ufs.FS) {
		for b.Loop() {
			if _, err := fsys.ReadDir("d000"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkWalkDir(b *testing.B) {
	root := benchTree(b, sys.Host(), 20, 50)
	b.Run("impl=os", func(b *testing.B) {
		for b.Loop() {
			n := 0
			filepath.WalkDir(root, func(string, fs.DirEntry, error) error { n++; return nil })
			if n != 1021 {
				b.Fatal(n)
			}
		}
	})
	onKernels(b, 20, 50, func(b *testing.B, fsys *ufs.FS) {
		for b.Loop() {
			n := 0
			fs.WalkDir(fsys, ".", func(string, fs.DirEntry, error) error { n++; return nil })
			if n != 1021 {
				b.Fatal(n)
			}
		}
	})
}

// BenchmarkPaired runs os and ufs on the host in alternating blocks and
// reports ufs/os time, so both see the same moments of a noisy machine:
// below 1/0.95 ≈ 1.053 means ufs keeps at least 95% of os's speed.
func BenchmarkPaired(b *testing.B) {
	root := benchTree(b, sys.Host(), 20, 50)
	fsys := ufs.New(sys.Host(), root)
	defer fsys.Close()
	walk := func(n *int) fs.WalkDirFunc {
		return func(string, fs.DirEntry, error) error { *n++; return nil }
	}
	b.Run("op=ReadFile", func(b *testing.B) {
		name := filepath.Join(root, "d000", "f0000")
		kerneltest.Paired(b, 32, "ufs/os",
			func() { os.ReadFile(name) },
			func() { fsys.ReadFile("d000/f0000") })
	})
	b.Run("op=ReadDir", func(b *testing.B) {
		kerneltest.Paired(b, 4, "ufs/os",
			func() { os.ReadDir(filepath.Join(root, "d000")) },
			func() { fsys.ReadDir("d000") })
	})
	b.Run("op=WalkDir", func(b *testing.B) {
		var n int
		kerneltest.Paired(b, 1, "ufs/os",
			func() { filepath.WalkDir(root, walk(&n)) },
			func() { fs.WalkDir(fsys, ".", walk(&n)) })
	})
}

// The async API's backends, as GOKERNEL_AIO names them: impl=epoll (the
// loop's worker pool) and impl=uring (io_uring, where the host has it).
// Each reports cpu-ns/op, the process's CPU time (user+system, getrusage)
// per op, beside the wall time; benchstat -col /impl prints the ratios.

// asyncBench runs f as impl=BACKEND for each backend of ufs.Async on the
// host, with an Async on a loop running on its own goroutine.
func asyncBench(b *testing.B, root string, f func(b *testing.B, loop *eloop.Loop, a *ufs.Async)) {
	for _, backend := range ufs.AsyncBackends(sys.Host()) {
		b.Run("impl="+backend, func(b *testing.B) {
			b.Setenv("GOKERNEL_AIO", backend)
			fsys := ufs.New(sys.Host(), root)
			defer fsys.Close()
			loop, err := eloop.New(sys.Host(), eloop.Options{})
			if err != nil {
				b.Fatal(err)
			}
			ran := make(chan error, 1)
			go func() { ran <- loop.Run(context.Background()) }()
			defer func() {
				loop.Stop()
				if err := <-ran; err != nil {
					b.Error(err)
				}
			}()
			a := ufs.NewAsync(fsys, loop)
			if got := a.Backend().Backend.String(); got != backend {
				b.Fatalf("GOKERNEL_AIO=%s: the Async took %s", backend, got)
			}
			cpu0 := kerneltest.CPUTime()
			f(b, loop, a)
			b.ReportMetric(float64(kerneltest.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// window runs n calls through start, keeping up to width in flight, from
// the loop goroutine; start calls next once its call is done, with its
// error. It returns the first error.
func window(loop *eloop.Loop, n, width int, start func(i int, next func(error)) error) error {
	res := make(chan error, 1)
	issued, finished := 0, 0
	var first error
	var next func(error)
	issue := func() {
		i := issued
		issued++
		if err := start(i, next); err != nil {
			next(err)
		}
	}
	next = func(err error) {
		finished++
		if err != nil && first == nil {
			first = err
		}
		if issued < n && first == nil {
			issue()
		} else if finished == issued {
			res <- first
		}
	}
	if err := loop.Post(func() {
		for issued < min(width, n) {
			issue()
		}
	}); err != nil {
		return err
	}
	return <-res
}

// BenchmarkAsyncSmallFiles reads 10,000 files of 4 KiB (100 directories
// of 100, in the page cache), 64 at a time: one op is all 10,000. With
// api=ReadFile each file is one ReadFile; with api=OpenReadClose it is
// OpenFile, ReadAt of 4 KiB and CloseFile, three calls in turn.
func BenchmarkAsyncSmallFiles(b *testing.B) {
	const dirs, files, width = 100, 100, 64
	root := benchTree(b, sys.Host(), dirs, files)
	names := make([]string, 0, dirs*files)
	for d := range dirs {
		for f := range files {
			names = append(names, fmt.Sprintf("d%03d/f%04d", d, f))
		}
	}
	ctx := context.Background()
	b.Run("api=ReadFile", func(b *testing.B) {
		asyncBench(b, root, func(b *testing.B, loop *eloop.Loop, a *ufs.Async) {
			for b.Loop() {
				err := window(loop, len(names), width, func(i int, next func(error)) error {
					return a.ReadFile(ctx, names[i], func(data []byte, err error) {
						if err == nil && len(data) != 4096 {
							err = fmt.Errorf("%s: %d bytes", names[i], len(data))
						}
						next(err)
					})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("api=OpenReadClose", func(b *testing.B) {
		asyncBench(b, root, func(b *testing.B, loop *eloop.Loop, a *ufs.Async) {
			for b.Loop() {
				err := window(loop, len(names), width, func(i int, next func(error)) error {
					return a.OpenFile(ctx, names[i], os.O_RDONLY, 0, func(f *ufs.File, err error) {
						if err != nil {
							next(err)
							return
						}
						buf := make([]byte, 4096)
						err = a.ReadAt(ctx, f, buf, 0, func(n int, rerr error) {
							err := a.CloseFile(ctx, f, func(cerr error) { next(errors.Join(rerr, cerr)) })
							if err != nil {
								next(err)
							}
						})
						if err != nil {
							f.Close()
							next(err)
						}
					})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkAsyncSeqRead reads a 1 GiB file (64 MiB with -short), in the
// page cache, with ReadAt in 1 MiB chunks, 4 in flight: one op is the
// whole file.
func BenchmarkAsyncSeqRead(b *testing.B) {
	const chunk, width = 1 << 20, 4
	size := 1 << 30
	if testing.Short() {
		size = 64 << 20
	}
	root := kerneltest.TempDir(b, sys.Host())
	fsys := ufs.New(sys.Host(), root)
	f, err := fsys.Create("big")
	if err != nil {
		b.Fatal(err)
	}
	block := bytes.Repeat([]byte("gokernel"), chunk/8)
	for off := 0; off < size; off += chunk {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	fsys.Close()
	asyncBench(b, root, func(b *testing.B, loop *eloop.Loop, a *ufs.Async) {
		ctx := context.Background()
		free := make([][]byte, width) // touched on the loop goroutine only
		for i := range free {
			free[i] = make([]byte, chunk)
		}
		b.SetBytes(int64(size))
		for b.Loop() {
			f, err := await(b, func(done func(*ufs.File, error)) error {
				return a.OpenFile(ctx, "big", os.O_RDONLY, 0, done)
			})
			if err != nil {
				b.Fatal(err)
			}
			err = window(loop, size/chunk, width, func(i int, next func(error)) error {
				buf := free[len(free)-1]
				free = free[:len(free)-1]
				return a.ReadAt(ctx, f, buf, int64(i)*chunk, func(n int, err error) {
					if err == nil && (n != chunk || buf[n-1] != 'l') {
						err = fmt.Errorf("chunk %d: %d bytes", i, n)
					}
					free = append(free, buf)
					next(err)
				})
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := await0(b, func(done func(error)) error { return a.CloseFile(ctx, f, done) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
