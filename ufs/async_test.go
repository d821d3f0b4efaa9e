package ufs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// asyncRig is an Async on a loop that runs until the test ends.
type asyncRig struct {
	fsys *ufs.FS
	loop *eloop.Loop
	a    *ufs.Async
}

// newAsyncRig makes an FS on a fresh directory of k and an Async for it
// on a running loop; at the end of the test the loop is stopped and Run
// must have returned nil.
func newAsyncRig(t *testing.T, k sys.Kernel) *asyncRig {
	t.Helper()
	fsys := ufs.New(k, kerneltest.TempDir(t, k))
	loop, err := eloop.New(k, eloop.Options{Workers: 2})
	require.NoError(t, err)
	r := &asyncRig{fsys: fsys, loop: loop, a: ufs.NewAsync(fsys, loop)}
	if env := os.Getenv("GOKERNEL_AIO"); env == "epoll" || env == "uring" && sys.IsHost(k) {
		require.Equal(t, env, r.a.Backend().Backend.String(), "GOKERNEL_AIO names the backend")
	}
	ran := make(chan error, 1)
	go func() { ran <- loop.Run(context.Background()) }()
	t.Cleanup(func() {
		loop.Stop()
		select {
		case err := <-ran:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after Stop")
		}
		fsys.Close()
	})
	return r
}

// await makes an Async call from the test goroutine and waits for its
// done; the call's own error comes back as err with called false.
func await[T any](t testing.TB, call func(done func(T, error)) error) (v T, err error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	c := make(chan result, 1)
	if err := call(func(v T, err error) { c <- result{v, err} }); err != nil {
		return v, fmt.Errorf("call: %w", err)
	}
	select {
	case r := <-c:
		return r.v, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("done was not called")
		panic("unreachable")
	}
}

// await0 is await for a done without a value.
func await0(t testing.TB, call func(done func(error)) error) error {
	t.Helper()
	_, err := await(t, func(done func(struct{}, error)) error {
		return call(func(err error) { done(struct{}{}, err) })
	})
	return err
}

// describe prints an error with its types, so two backends' errors can be
// compared: a PathError's op, path and errno, or an error's text.
func describe(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		var errno syscall.Errno
		if errors.As(pe.Err, &errno) {
			return fmt.Sprintf("PathError{%s %q errno %d}", pe.Op, pe.Path, int(errno))
		}
		return fmt.Sprintf("PathError{%s %q %v}", pe.Op, pe.Path, pe.Err)
	}
	if err == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%T %v", err, err)
}

// The asynchronous calls deliver their results on the loop goroutine.
func TestAsync(t *testing.T) {
	runAsync(t, func(t *testing.T, k sys.Kernel, backend string) {
		kerneltest.CheckFDs(t, k)
		fsys := ufs.New(k, kerneltest.TempDir(t, k))
		defer fsys.Close()
		loop, err := eloop.New(k, eloop.Options{Workers: 2})
		require.NoError(t, err)
		a := ufs.NewAsync(fsys, loop)
		require.Equal(t, backend, a.Backend().Backend.String(), a.Backend().String())
		ctx := context.Background()
		var (
			onLoop  []bool
			got     []byte
			info    fs.FileInfo
			ents    []fs.DirEntry
			missing error
		)
		runG := goid() // Run runs on this goroutine: the loop's
		check := func() { onLoop = append(onLoop, goid() == runG) }
		require.NoError(t, a.WriteFile(ctx, "f", []byte("async"), 0o644, func(err error) {
			check()
			require.NoError(t, err)
			require.NoError(t, a.ReadFile(ctx, "f", func(b []byte, err error) {
				check()
				got = b
				require.NoError(t, err)
				require.NoError(t, a.Stat(ctx, "f", func(fi fs.FileInfo, err error) {
					check()
					info = fi
					require.NoError(t, err)
					require.NoError(t, a.ReadDir(ctx, ".", func(e []fs.DirEntry, err error) {
						check()
						ents = e
						require.NoError(t, err)
						require.NoError(t, a.Stat(ctx, "missing", func(_ fs.FileInfo, err error) {
							missing = err
							loop.Stop()
						}))
					}))
				}))
			}))
		}))
		require.NoError(t, loop.Run(ctx))
		require.Equal(t, []bool{true, true, true, true}, onLoop)
		require.Equal(t, "async", string(got))
		require.EqualValues(t, 5, info.Size())
		require.Len(t, ents, 1)
		require.ErrorIs(t, missing, fs.ErrNotExist)
	})
}

// A file opened, written, synced, read and closed through the Async, and
// the same calls on a closed file, with the same results on each backend.
func TestAsyncFile(t *testing.T) {
	results := map[string][]string{}
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		kerneltest.CheckFDs(t, k)
		r := newAsyncRig(t, k)
		a, ctx := r.a, context.Background()
		var log []string
		note := func(format string, args ...any) { log = append(log, fmt.Sprintf(format, args...)) }

		// ".." is taken lexically, once what comes before it is found.
		open := func() (*ufs.File, error) {
			return await(t, func(done func(*ufs.File, error)) error {
				return a.OpenFile(ctx, "dir/../f", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, done)
			})
		}
		_, err := open()
		require.ErrorIs(t, err, fs.ErrNotExist)
		note("open dir/../f: %v", describe(err))
		require.NoError(t, r.fsys.Mkdir("dir", 0o755))
		f, err := open()
		require.NoError(t, err)
		require.Equal(t, "dir/../f", f.Name())
		n, err := await(t, func(done func(int, error)) error {
			return a.WriteAt(ctx, f, []byte("hello, async world"), 0, done)
		})
		require.NoError(t, err)
		require.Equal(t, 18, n)
		require.NoError(t, await0(t, func(done func(error)) error { return a.Sync(ctx, f, done) }))
		buf := make([]byte, 5)
		n, err = await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, buf, 7, done) })
		require.NoError(t, err)
		require.Equal(t, "async", string(buf[:n]))
		big := make([]byte, 100)
		n, err = await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, big, 13, done) })
		require.Equal(t, io.EOF, err, "a short ReadAt ends with bare io.EOF")
		require.Equal(t, "world", string(big[:n]))
		n, err = await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, big, 1000, done) })
		require.Equal(t, io.EOF, err)
		require.Zero(t, n)
		n, err = await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, nil, 0, done) })
		require.NoError(t, err, "a zero-length ReadAt is not EOF")
		require.Zero(t, n)
		_, err = await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, buf, -1, done) })
		require.ErrorIs(t, err, syscall.EINVAL)
		note("readat -1: %v", describe(err))
		_, err = await(t, func(done func(int, error)) error { return a.WriteAt(ctx, f, buf, -1, done) })
		require.ErrorIs(t, err, syscall.EINVAL)
		note("writeat -1: %v", describe(err))
		require.NoError(t, await0(t, func(done func(error)) error { return a.CloseFile(ctx, f, done) }))

		// A closed File: fs.ErrClosed in a PathError with the op.
		err = await0(t, func(done func(error)) error { return a.CloseFile(ctx, f, done) })
		require.ErrorIs(t, err, fs.ErrClosed)
		note("close twice: %v", describe(err))
		_, err = await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, buf, 0, done) })
		require.ErrorIs(t, err, fs.ErrClosed)
		note("readat closed: %v", describe(err))
		_, err = await(t, func(done func(int, error)) error { return a.WriteAt(ctx, f, buf, 0, done) })
		require.ErrorIs(t, err, fs.ErrClosed)
		note("writeat closed: %v", describe(err))
		err = await0(t, func(done func(error)) error { return a.Sync(ctx, f, done) })
		require.ErrorIs(t, err, fs.ErrClosed)
		note("sync closed: %v", describe(err))

		got, err := r.fsys.ReadFile("f")
		require.NoError(t, err)
		require.Equal(t, "hello, async world", string(got))

		// A read-only file refuses writes (EBADF); O_APPEND refuses
		// WriteAt (EINVAL), as File.WriteAt does.
		ro, err := await(t, func(done func(*ufs.File, error)) error {
			return a.OpenFile(ctx, "f", unix.O_RDONLY, 0, done)
		})
		require.NoError(t, err)
		_, err = await(t, func(done func(int, error)) error { return a.WriteAt(ctx, ro, buf, 0, done) })
		require.ErrorIs(t, err, syscall.EBADF)
		note("writeat read-only: %v", describe(err))
		require.NoError(t, await0(t, func(done func(error)) error { return a.CloseFile(ctx, ro, done) }))
		ap, err := await(t, func(done func(*ufs.File, error)) error {
			return a.OpenFile(ctx, "f", unix.O_WRONLY|unix.O_APPEND, 0, done)
		})
		require.NoError(t, err)
		_, err = await(t, func(done func(int, error)) error { return a.WriteAt(ctx, ap, buf, 0, done) })
		require.ErrorIs(t, err, syscall.EINVAL)
		note("writeat append: %v", describe(err))
		require.NoError(t, await0(t, func(done func(error)) error { return a.CloseFile(ctx, ap, done) }))
		results[k.Name()+"/"+backend] = log
		if backend != "epoll" {
			require.Equal(t, results[k.Name()+"/epoll"], log, "the same results as epoll's")
		}
	})
}

// Names that are bad, escape the root, go through symlinks or do not
// exist give the same results through the Async on every backend, and the
// errors the FS gives.
func TestAsyncNames(t *testing.T) {
	results := map[string][]string{}
	runAsync(t, func(t *testing.T, k sys.Kernel, backend string) {
		kerneltest.CheckFDs(t, k)
		r := newAsyncRig(t, k)
		a, fsys, ctx := r.a, r.fsys, context.Background()
		require.NoError(t, fsys.MkdirAll("sub/deeper", 0o755))
		require.NoError(t, fsys.WriteFile("sub/in.txt", []byte("inside"), 0o644))
		require.NoError(t, fsys.Symlink("sub/in.txt", "link"))
		require.NoError(t, fsys.Symlink("sub", "dirlink"))
		require.NoError(t, fsys.Symlink("../../etc/passwd", "climb"))
		require.NoError(t, fsys.Symlink("/etc/passwd", "abs"))
		require.NoError(t, fsys.Symlink("loop2", "loop1"))
		require.NoError(t, fsys.Symlink("loop1", "loop2"))

		tests := []struct {
			name string
			want error // nil: the call succeeds with "inside"
		}{
			{"sub/in.txt", nil},
			{"sub/./in.txt", nil},
			{"sub//in.txt", nil},
			{"sub/deeper/../in.txt", nil},
			{"sub/in.txt/", nil},
			{"link", nil},
			{"dirlink/in.txt", nil},
			{"missing", syscall.ENOENT},
			{"sub/missing/in.txt", syscall.ENOENT},
			{"sub/in.txt/x", syscall.ENOTDIR},
			{"sub", syscall.EISDIR},
			{"../x", syscall.EXDEV},
			{"sub/../../x", syscall.EXDEV},
			{"/etc/passwd", syscall.EXDEV},
			{"climb", syscall.EXDEV},
			{"abs", syscall.EXDEV},
			{"loop1", syscall.ELOOP},
			{"nul\x00byte", syscall.EINVAL},
			{"", syscall.ENOENT},
		}
		// A plain name is opened and read on the ring when there is one.
		before := ufs.RingOps(a)
		_, err := await(t, func(done func([]byte, error)) error { return a.ReadFile(ctx, "sub/in.txt", done) })
		require.NoError(t, err)
		if r.a.Backend().Backend == aio.Uring {
			require.GreaterOrEqual(t, ufs.RingOps(a)-before, uint64(3), "openat2 and two reads on the ring")
		} else {
			require.Zero(t, ufs.RingOps(a))
		}

		var log []string
		for _, tc := range tests {
			// OpenFile takes os.Root's names; a directory opens.
			f, err := await(t, func(done func(*ufs.File, error)) error {
				return a.OpenFile(ctx, tc.name, unix.O_RDONLY, 0, done)
			})
			want := fsysOpen(fsys, tc.name)
			require.Equal(t, describe(want), describe(err), "OpenFile %q", tc.name)
			if err == nil {
				b := make([]byte, 16)
				n, rerr := await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, b, 0, done) })
				log = append(log, fmt.Sprintf("open %q: read %q %v", tc.name, b[:n], describe(rerr)))
				require.NoError(t, await0(t, func(done func(error)) error { return a.CloseFile(ctx, f, done) }))
			} else {
				require.ErrorIs(t, err, tc.want, "OpenFile %q", tc.name)
				log = append(log, fmt.Sprintf("open %q: %v", tc.name, describe(err)))
			}

			// ReadFile takes io/fs's names.
			data, err := await(t, func(done func([]byte, error)) error { return a.ReadFile(ctx, tc.name, done) })
			wantData, wantErr := fsys.ReadFile(tc.name)
			require.Equal(t, describe(wantErr), describe(err), "ReadFile %q", tc.name)
			require.Equal(t, string(wantData), string(data), "ReadFile %q", tc.name)
			if !fs.ValidPath(tc.name) {
				require.ErrorIs(t, err, fs.ErrInvalid, "ReadFile %q", tc.name)
			} else if tc.want == nil {
				require.Equal(t, "inside", string(data))
			} else {
				require.ErrorIs(t, err, tc.want, "ReadFile %q", tc.name)
			}
			log = append(log, fmt.Sprintf("readfile %q: %q %v", tc.name, data, describe(err)))
		}

		// Writing through names: creating through a climbing link or
		// over a final symlink with O_EXCL is refused as the FS does.
		for _, name := range []string{"climb", "../out", "sub/new", "link", "nul\x00"} {
			err := await0(t, func(done func(error)) error {
				return a.WriteFile(ctx, name, []byte("w"), 0o644, done)
			})
			log = append(log, fmt.Sprintf("writefile %q: %v", name, describe(err)))
			f, err := await(t, func(done func(*ufs.File, error)) error {
				return a.OpenFile(ctx, name+"-x", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644, done)
			})
			if err == nil {
				require.NoError(t, f.Close())
			}
			log = append(log, fmt.Sprintf("create-excl %q: %v", name+"-x", describe(err)))
		}
		_, err = await(t, func(done func(*ufs.File, error)) error {
			return a.OpenFile(ctx, "link", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644, done)
		})
		require.ErrorIs(t, err, fs.ErrExist, "O_EXCL over a symlink")
		log = append(log, fmt.Sprintf("create-excl link: %v", describe(err)))
		got, err := fsys.ReadFile("link")
		require.NoError(t, err)
		require.Equal(t, "w", string(got), "WriteFile through link wrote sub/in.txt")
		results[k.Name()+"/"+backend] = log
		if backend != "epoll" {
			require.Equal(t, results[k.Name()+"/epoll"], log, "the same results as epoll's")
		}
	})
}

// fsysOpen opens name with FS.OpenFile O_RDONLY, closes it, and returns
// the error.
func fsysOpen(fsys *ufs.FS, name string) error {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err == nil {
		f.Close()
	}
	return err
}

// ReadFile and WriteFile of files of every size around the buffers'
// edges give the bytes written, on every backend.
func TestAsyncSizes(t *testing.T) {
	runAsync(t, func(t *testing.T, k sys.Kernel, _ string) {
		kerneltest.CheckFDs(t, k)
		r := newAsyncRig(t, k)
		ctx := context.Background()
		for _, size := range []int{0, 1, 1000, 4095, 4096, 4097, 4607, 4608, 4609, 10000, 1 << 20} {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i*7 + size)
			}
			name := fmt.Sprintf("f%d", size)
			require.NoError(t, await0(t, func(done func(error)) error {
				return r.a.WriteFile(ctx, name, data, 0o644, done)
			}))
			got, err := await(t, func(done func([]byte, error)) error { return r.a.ReadFile(ctx, name, done) })
			require.NoError(t, err)
			require.NotNil(t, got, "size %d", size)
			require.Equal(t, data, got, "size %d", size)
			again, err := r.fsys.ReadFile(name)
			require.NoError(t, err)
			require.Equal(t, data, again, "size %d, read by the FS", size)
		}
	})
}

// Calls on a stopped loop, or with a context that has ended, fail at
// once with fs.ErrClosed or the context's error; a closed FS is
// fs.ErrClosed through done.
func TestAsyncClosed(t *testing.T) {
	runAsync(t, func(t *testing.T, k sys.Kernel, _ string) {
		kerneltest.CheckFDs(t, k)
		r := newAsyncRig(t, k)
		a := r.a
		require.NoError(t, r.fsys.WriteFile("f", []byte("x"), 0o644))
		f, err := r.fsys.OpenFile("f", unix.O_RDWR, 0)
		require.NoError(t, err)
		defer f.Close()

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		buf := make([]byte, 1)
		calls := map[string]func() error{
			"ReadFile":  func() error { return a.ReadFile(ctx, "f", func([]byte, error) { t.Error("done called") }) },
			"OpenFile":  func() error { return a.OpenFile(ctx, "f", 0, 0, func(*ufs.File, error) { t.Error("done called") }) },
			"ReadAt":    func() error { return a.ReadAt(ctx, f, buf, 0, func(int, error) { t.Error("done called") }) },
			"WriteAt":   func() error { return a.WriteAt(ctx, f, buf, 0, func(int, error) { t.Error("done called") }) },
			"Sync":      func() error { return a.Sync(ctx, f, func(error) { t.Error("done called") }) },
			"CloseFile": func() error { return a.CloseFile(ctx, f, func(error) { t.Error("done called") }) },
		}
		for name, call := range calls {
			require.ErrorIs(t, call(), context.Canceled, name)
		}

		require.NoError(t, r.fsys.Close())
		_, err = await(t, func(done func([]byte, error)) error {
			return a.ReadFile(context.Background(), "f", done)
		})
		require.ErrorIs(t, err, fs.ErrClosed, "ReadFile on a closed FS")
		_, err = await(t, func(done func(*ufs.File, error)) error {
			return a.OpenFile(context.Background(), "f", 0, 0, done)
		})
		require.ErrorIs(t, err, fs.ErrClosed, "OpenFile on a closed FS")
		n, err := await(t, func(done func(int, error)) error { return a.ReadAt(context.Background(), f, buf, 0, done) })
		require.NoError(t, err, "a File outlives its FS's Close")
		require.Equal(t, 1, n)

		r.loop.Stop()
		ctx = context.Background()
		calls = map[string]func() error{
			"ReadFile":  func() error { return a.ReadFile(ctx, "f", func([]byte, error) {}) },
			"OpenFile":  func() error { return a.OpenFile(ctx, "f", 0, 0, func(*ufs.File, error) {}) },
			"ReadAt":    func() error { return a.ReadAt(ctx, f, buf, 0, func(int, error) {}) },
			"WriteAt":   func() error { return a.WriteAt(ctx, f, buf, 0, func(int, error) {}) },
			"Sync":      func() error { return a.Sync(ctx, f, func(error) {}) },
			"CloseFile": func() error { return a.CloseFile(ctx, f, func(error) {}) },
		}
		require.Eventually(t, func() bool {
			return errors.Is(a.Sync(ctx, f, func(error) {}), fs.ErrClosed)
		}, 10*time.Second, time.Millisecond)
		for name, call := range calls {
			require.ErrorIs(t, call(), fs.ErrClosed, name)
		}
	})
}

// The backend: GOKERNEL_AIO=epoll is the pool everywhere; uring is
// io_uring on the host where it has the operations, and the pool on LKL,
// which says why.
func TestAsyncBackend(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		for _, env := range []string{"epoll", "uring", "auto"} {
			t.Run(env, func(t *testing.T) {
				t.Setenv("GOKERNEL_AIO", env)
				r := newAsyncRig(t, k)
				c := r.a.Backend()
				switch {
				case env == "epoll":
					require.Equal(t, aio.Epoll, c.Backend, c.String())
				case !sys.IsHost(k):
					require.Equal(t, aio.Epoll, c.Backend, c.String())
					require.Contains(t, c.Reason, "not the host")
				case slices.Contains(ufs.AsyncBackends(k), "uring"):
					require.Equal(t, aio.Uring, c.Backend, c.String())
					require.False(t, ufs.RingDirect(r.a), "chains are off unless %s=chain", ufs.EnvUring)
					t.Setenv(ufs.EnvUring, "chain")
					require.True(t, ufs.RingDirect(newAsyncRig(t, k).a), "a ring on the host has a file table for ReadFile's chains")
				default:
					require.Equal(t, aio.Epoll, c.Backend, c.String())
				}
			})
		}
	})
}

// Calls from many goroutines at once, on distinct files, each checked.
func TestAsyncConcurrent(t *testing.T) {
	runAsync(t, func(t *testing.T, k sys.Kernel, _ string) {
		kerneltest.CheckFDs(t, k)
		r := newAsyncRig(t, k)
		a, ctx := r.a, context.Background()
		const goroutines, each = 8, 40
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					name := fmt.Sprintf("g%d-%d", g, i)
					want := []byte(strings.Repeat(name, i+1))
					if err := await0(t, func(done func(error)) error {
						return a.WriteFile(ctx, name, want, 0o644, done)
					}); err != nil {
						t.Error(err)
						return
					}
					got, err := await(t, func(done func([]byte, error)) error { return a.ReadFile(ctx, name, done) })
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("ReadFile %s: %q, %v", name, got, err)
						return
					}
					f, err := await(t, func(done func(*ufs.File, error)) error {
						return a.OpenFile(ctx, name, unix.O_RDWR, 0, done)
					})
					if err != nil {
						t.Error(err)
						return
					}
					b := make([]byte, len(want))
					n, err := await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, b, 0, done) })
					if err != nil || n != len(want) || !bytes.Equal(b, want) {
						t.Errorf("ReadAt %s: %d, %v", name, n, err)
					}
					if err := await0(t, func(done func(error)) error { return a.CloseFile(ctx, f, done) }); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	})
}

// A CloseFile while a ReadAt on the file is in flight waits for it; a
// loop stopped with calls in flight calls every done once, and leaves no
// fd open.
func TestAsyncStopInFlight(t *testing.T) {
	runAsync(t, func(t *testing.T, k sys.Kernel, _ string) {
		kerneltest.CheckFDs(t, k)
		r := newAsyncRig(t, k)
		a, ctx := r.a, context.Background()
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		require.NoError(t, r.fsys.WriteFile("big", big, 0o644))
		f, err := r.fsys.OpenFile("big", os.O_RDONLY, 0)
		require.NoError(t, err)

		type result struct {
			what string
			n    int
			err  error
		}
		results := make(chan result, 2)
		buf := make([]byte, len(big))
		require.NoError(t, r.loop.Post(func() {
			require.NoError(t, a.ReadAt(ctx, f, buf, 0, func(n int, err error) { results <- result{"readat", n, err} }))
			require.NoError(t, a.CloseFile(ctx, f, func(err error) { results <- result{"close", 0, err} }))
		}))
		first, second := recvResult(t, results), recvResult(t, results)
		got := map[string]result{first.what: first, second.what: second}
		require.NoError(t, got["close"].err)
		if a.Backend().Backend == aio.Epoll && errors.Is(got["readat"].err, fs.ErrClosed) {
			// Two jobs on the pool run in either order.
		} else {
			// On the ring the read went to the kernel first, and the
			// close waited for it.
			require.NoError(t, got["readat"].err)
			require.Equal(t, len(big), got["readat"].n)
			require.Equal(t, big, buf)
		}
		require.ErrorIs(t, f.Close(), fs.ErrClosed)

		// Many calls in flight, then Stop from the loop goroutine.
		const calls = 300
		var started, finished atomic.Int64
		stopped := make(chan struct{})
		require.NoError(t, r.loop.Post(func() {
			for i := range calls {
				err := a.ReadFile(ctx, "big", func(b []byte, err error) {
					finished.Add(1)
					if err == nil && len(b) != len(big) {
						t.Errorf("call %d: %d bytes", i, len(b))
					}
				})
				if err == nil {
					started.Add(1)
				}
			}
			r.loop.Stop()
			close(stopped)
		}))
		<-stopped
		require.Eventually(t, func() bool { return finished.Load() == started.Load() }, 10*time.Second, time.Millisecond)
		require.EqualValues(t, calls, started.Load())
	})
}

// goid returns the calling goroutine's id, from its stack's header.
func goid() uint64 {
	var buf [64]byte
	b := bytes.TrimPrefix(buf[:runtime.Stack(buf[:], false)], []byte("goroutine "))
	id, _ := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	return id
}

func recvResult[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

// Where the kernel refuses the ring a file table (before Linux 5.19, or
// any error), ReadFile on the ring opens fds and reads to the end
// without chains, with the same results, even with GOKERNEL_UFS_URING=chain.
func TestAsyncNoFileTable(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		kerneltest.CheckFDs(t, k)
		t.Setenv(ufs.EnvUring, "chain")
		if backend != "uring" { // the pool: no ring, no table, whatever the variable says
			require.False(t, ufs.RingDirect(newAsyncRig(t, k).a))
			return
		}
		nf := &noFileTable{Kernel: k}
		r := newAsyncRig(t, nf)
		require.Equal(t, aio.Uring, r.a.Backend().Backend, r.a.Backend().String())
		require.Equal(t, []uintptr{13, 2}, nf.refused, "IORING_REGISTER_FILES2, then IORING_REGISTER_FILES")
		require.False(t, ufs.RingDirect(r.a))
		ctx := context.Background()
		for _, size := range []int{0, 1, 4095, 4096, 4608, 4609, 10000} {
			name := fmt.Sprintf("f%d", size)
			want := bytes.Repeat([]byte{byte(size)}, size)
			require.NoError(t, r.fsys.WriteFile(name, want, 0o644))
			before := ufs.RingOps(r.a)
			got, err := await(t, func(done func([]byte, error)) error { return r.a.ReadFile(ctx, name, done) })
			require.NoError(t, err)
			require.Equal(t, want, got, "size %d", size)
			require.NotNil(t, got)
			require.GreaterOrEqual(t, ufs.RingOps(r.a)-before, uint64(3), "open, reads to the end and close on the ring")
		}
		_, err := await(t, func(done func([]byte, error)) error { return r.a.ReadFile(ctx, "missing", done) })
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
}

// runAsync is kerneltest.RunBackends, and on io_uring once more with
// ReadFile's linked chains (GOKERNEL_UFS_URING=chain), in a subtest
// "chain" of the uring one.
func runAsync(t *testing.T, f func(t *testing.T, k sys.Kernel, backend string)) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		f(t, k, backend)
		if backend == "uring" {
			t.Run("chain", func(t *testing.T) {
				t.Setenv(ufs.EnvUring, "chain")
				f(t, k, backend)
			})
		}
	})
}

// noFileTable is a host kernel that refuses io_uring file tables:
// IORING_REGISTER_FILES2 with EINVAL (as before Linux 5.19),
// IORING_REGISTER_FILES with ENOMEM.
type noFileTable struct {
	sys.Kernel
	refused []uintptr // the opcodes refused; the loop goroutine's
}

func (k *noFileTable) IsHost() bool { return sys.IsHost(k.Kernel) }

func (k *noFileTable) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, sys.Errno) {
	if trap == unix.SYS_IO_URING_REGISTER && (a2 == 13 || a2 == 2) {
		k.refused = append(k.refused, a2)
		if a2 == 13 {
			return ^uintptr(0), 0, sys.Errno(unix.EINVAL)
		}
		return ^uintptr(0), 0, sys.Errno(unix.ENOMEM)
	}
	return k.Kernel.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// With io_uring_enter failing now and then (EINTR often; EAGAIN, EBUSY
// and ENOMEM, the kernel busy, a few times each) and epoll waits
// interrupted, every call still completes with the right bytes: what
// the kernel did not take is submitted again.
func TestAsyncFaults(t *testing.T) {
	runAsync(t, func(t *testing.T, k sys.Kernel, backend string) {
		kerneltest.CheckFDs(t, k)
		faults := []sys.Fault{{Trap: unix.SYS_EPOLL_PWAIT, Probability: 0.3, Errno: unix.EINTR}}
		if backend == "uring" {
			faults = append(faults,
				sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.3, Errno: unix.EINTR},
				sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 3, Errno: unix.EAGAIN},
				sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 3, Errno: unix.EBUSY},
				sys.Fault{Trap: unix.SYS_IO_URING_ENTER, Probability: 0.1, Count: 3, Errno: unix.ENOMEM})
		}
		in, err := sys.NewInjector(k, 21, faults...)
		require.NoError(t, err)
		r := newAsyncRig(t, in)
		require.Equal(t, backend, r.a.Backend().Backend.String(), r.a.Backend().String())
		a, ctx := r.a, context.Background()
		for i := range 100 {
			name := fmt.Sprintf("f%d", i)
			want := bytes.Repeat([]byte{byte(i)}, 100*i)
			require.NoError(t, await0(t, func(done func(error)) error { return a.WriteFile(ctx, name, want, 0o644, done) }))
			got, err := await(t, func(done func([]byte, error)) error { return a.ReadFile(ctx, name, done) })
			require.NoError(t, err)
			require.Equal(t, want, got)
			f, err := await(t, func(done func(*ufs.File, error)) error { return a.OpenFile(ctx, name, os.O_RDONLY, 0, done) })
			require.NoError(t, err)
			b := make([]byte, len(want))
			n, err := await(t, func(done func(int, error)) error { return a.ReadAt(ctx, f, b, 0, done) })
			require.NoError(t, err)
			require.Equal(t, len(want), n)
			require.NoError(t, await0(t, func(done func(error)) error { return a.CloseFile(ctx, f, done) }))
		}
		if backend == "uring" {
			require.NotEmpty(t, in.Fired(), "no fault fired")
		}
	})
}
