package ufs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/sys"
)

// An Async runs an FS's calls for a program built on an eloop.Loop and
// delivers their results to callbacks on the loop goroutine, as libuv's
// uv_fs_* calls do: the loop never blocks on the file system.
//
// It has two backends, chosen by NewAsync with aio.Choose (GOKERNEL_AIO):
//   - "uring", on the host when its kernel has io_uring: opens, reads,
//     writes, fsyncs and closes are io_uring operations on a ring of the
//     Async's own, watched by the loop; no thread is involved. Stat,
//     ReadDir, names that need the FS's own resolution (symlinks, "..")
//     and calls the kernel refuses go to the pool, so results and errors
//     are the same as there.
//   - "epoll", everywhere else (LKL has no io_uring) or when GOKERNEL_AIO
//     says so: each call is a job on the loop's worker pool
//     (eloop.Loop.Submit).
//
// Each method returns an error only when it started nothing: then done is
// never called. Once it has returned nil, done is called exactly once, on
// the loop goroutine, with the call's result, or with ctx's error if ctx
// ended before the call started, or with an error satisfying
// errors.Is(err, fs.ErrClosed) if the loop stopped first: the closed error
// of a file, as the fd runtime's aio.File kind says, not the loop's
// net.ErrClosed. On a stopped loop the methods return fs.ErrClosed;
// with a ctx that has ended, ctx's error. Calls under way when the loop
// stops are waited for, and their done callbacks run, before Run returns.
//
// Buffers given to ReadAt and WriteAt belong to the call until its done.
type Async struct {
	fsys   *FS
	loop   *eloop.Loop
	ring   *fileRing // nil: the pool
	choice aio.Choice
}

// NewAsync returns the asynchronous API of fsys on loop. fsys and loop
// must be on the same kernel.
func NewAsync(fsys *FS, loop *eloop.Loop) *Async {
	a := &Async{fsys: fsys, loop: loop, choice: aio.Choose(loop.Kernel(), ringOps...)}
	if a.choice.Backend == aio.Uring {
		var err error
		if a.ring, err = newFileRing(loop); err != nil {
			a.choice = aio.Choice{Backend: aio.Epoll, Reason: "io_uring: " + err.Error()}
		}
	}
	return a
}

// Backend says what runs the Async's calls, and why: aio.Uring for its
// io_uring, aio.Epoll for the loop's worker pool.
func (a *Async) Backend() aio.Choice { return a.choice }

// submit runs work on the pool and passes its result, of type T, to done.
func submit[T any](a *Async, ctx context.Context, work func() (T, error), done func(T, error)) error {
	ran := false
	err := a.loop.Submit(ctx, func(context.Context) (any, error) {
		ran = true
		return work()
	}, func(v any, err error) {
		t, _ := v.(T)
		if !ran {
			err = fileClosed(err)
		}
		done(t, err)
	})
	return fileClosed(err)
}

// submitErr is submit for work that returns only an error.
func submitErr(a *Async, ctx context.Context, work func() error, done func(error)) error {
	return submit(a, ctx, func() (struct{}, error) { return struct{}{}, work() },
		func(_ struct{}, err error) { done(err) })
}

// resubmit is submit from a done callback of the ring, on the loop
// goroutine, for a call that has started: done gets submit's error.
func resubmit[T any](a *Async, ctx context.Context, work func() (T, error), done func(T, error)) {
	if err := submit(a, ctx, work, done); err != nil {
		var zero T
		done(zero, err)
	}
}

// post calls done on the loop goroutine, for a result known at once.
func (a *Async) post(done func()) error {
	return fileClosed(a.loop.Post(done))
}

// fileClosed turns the loop's closed error (eloop speaks net's) into a
// file's, fs.ErrClosed, keeping the message.
func fileClosed(err error) error {
	if err != nil && errors.Is(err, aio.Socket.ErrClosed()) {
		return fmt.Errorf("ufs: async: %w", aio.File.ErrClosed())
	}
	return err
}

// onRing reports whether a call on f goes to the ring: there is one, and
// f is a File of its kernel.
func (a *Async) onRing(f *File) bool {
	return a.ring != nil && f != nil && sys.IsHost(f.l.Kernel())
}

// ReadFile reads the named file (FS.ReadFile) and calls done with its
// contents.
func (a *Async) ReadFile(ctx context.Context, name string, done func([]byte, error)) error {
	if a.ring == nil || !fs.ValidPath(name) || !ringName(name) {
		return a.readFilePool(ctx, name, done, false)
	}
	if err := a.ring.check(ctx); err != nil {
		return err
	}
	op := &readFileOp{r: a.ring, fsys: a.fsys, name: name, a: a, ctx: ctx, then: done}
	if err := op.start(); err != nil {
		return a.fallback(err, func() error { return a.readFilePool(ctx, name, done, false) })
	}
	return nil
}

// readFilePool is ReadFile on the pool; started says that the call has
// started on the ring already: done then gets the pool's error.
func (a *Async) readFilePool(ctx context.Context, name string, done func([]byte, error), started bool) error {
	work := func() ([]byte, error) { return a.fsys.ReadFile(name) }
	if started {
		resubmit(a, ctx, work, done)
		return nil
	}
	return submit(a, ctx, work, done)
}

// fallback handles the error of a ring call that started nothing: a
// closed FS goes to the pool, whose call says so as the FS does; a
// closed ring is the Async's closed error.
func (a *Async) fallback(err error, pool func() error) error {
	if err == errRingClosed {
		return err
	}
	return pool()
}

// WriteFile writes data to the named file (FS.WriteFile) and calls done.
func (a *Async) WriteFile(ctx context.Context, name string, data []byte, perm fs.FileMode, done func(error)) error {
	pool := func() (struct{}, error) { return struct{}{}, a.fsys.WriteFile(name, data, perm) }
	done1 := func(_ struct{}, err error) { done(err) }
	if a.ring == nil || !ringName(name) {
		return submit(a, ctx, pool, done1)
	}
	if err := a.ring.check(ctx); err != nil {
		return err
	}
	r := a.ring
	err := r.open(a.fsys, name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, sysMode(perm), func(fd int, ok bool) {
		if !ok {
			resubmit(a, ctx, pool, done1)
			return
		}
		r.writeAll(fd, data, -1, func(_ int, res int32, err error) {
			if err == nil && res < 0 {
				err = &fs.PathError{Op: "write", Path: name, Err: syscall.Errno(-res)}
			} else if err == nil && res == 0 {
				err = &fs.PathError{Op: "write", Path: name, Err: io.ErrShortWrite}
			}
			r.closeFd(fd, func(cerr error) {
				if err == nil && cerr != nil {
					err = &fs.PathError{Op: "close", Path: name, Err: cerr}
				}
				done(err)
			})
		})
	})
	if err != nil {
		return a.fallback(err, func() error { return submit(a, ctx, pool, done1) })
	}
	return nil
}

// writeAll writes all of p to fd at off (-1: at the file offset),
// looping over short writes, and calls done with the count written and,
// if it stopped short, the result that stopped it (res <= 0: an errno or
// a write of nothing) or the ring's error.
func (r *fileRing) writeAll(fd int, p []byte, off int64, done func(n int, res int32, err error)) {
	n := 0
	var write func()
	write = func() {
		buf := p[n:]
		at := off
		if off >= 0 {
			at = off + int64(n)
		}
		err := r.next(&funcOp{
			prepFn: func(s *aio.SQE) { s.PrepWrite(fd, buf, at) },
			doneFn: func(res int32, err error) {
				if err != nil || res <= 0 {
					done(n, res, err)
					return
				}
				n += int(res)
				if n == len(p) {
					done(n, 1, nil)
					return
				}
				write()
			},
		})
		if err != nil {
			done(n, 0, err)
		}
	}
	if len(p) == 0 {
		done(0, 1, nil)
		return
	}
	write()
}

// Stat stats the named file (FS.Stat) and calls done with its FileInfo.
// It runs on the pool on every backend.
func (a *Async) Stat(ctx context.Context, name string, done func(fs.FileInfo, error)) error {
	return submit(a, ctx, func() (fs.FileInfo, error) { return a.fsys.Stat(name) }, done)
}

// ReadDir reads the named directory (FS.ReadDir) and calls done with its
// entries, sorted by name. It runs on the pool on every backend.
func (a *Async) ReadDir(ctx context.Context, name string, done func([]fs.DirEntry, error)) error {
	return submit(a, ctx, func() ([]fs.DirEntry, error) { return a.fsys.ReadDir(name) }, done)
}

// OpenFile opens the named file (FS.OpenFile) and calls done with it.
// The File is an ordinary File of the FS: its methods work on any
// goroutine, and the Async methods below take it.
func (a *Async) OpenFile(ctx context.Context, name string, flag int, perm fs.FileMode, done func(*File, error)) error {
	pool := func() (*File, error) { return a.fsys.OpenFile(name, flag, perm) }
	if a.ring == nil || !ringName(name) {
		return submit(a, ctx, pool, done)
	}
	if err := a.ring.check(ctx); err != nil {
		return err
	}
	err := a.ring.open(a.fsys, name, flag, sysMode(perm), func(fd int, ok bool) {
		if !ok {
			resubmit(a, ctx, pool, done)
			return
		}
		done(newFile(a.fsys, fd, name, flag), nil)
	})
	if err != nil {
		return a.fallback(err, func() error { return submit(a, ctx, pool, done) })
	}
	return nil
}

// ReadAt reads len(p) bytes of f at offset off (File.ReadAt) and calls
// done with the count and error: fewer bytes come with io.EOF.
func (a *Async) ReadAt(ctx context.Context, f *File, p []byte, off int64, done func(int, error)) error {
	if !a.onRing(f) {
		return submit(a, ctx, func() (int, error) { return f.ReadAt(p, off) }, done)
	}
	if ok, err := a.hold(ctx, "readat", f, off < 0, len(p) == 0, done); !ok {
		return err
	}
	r := a.ring
	n := 0
	var read func(first bool) error
	read = func(first bool) error {
		buf := p[n:]
		op := &funcOp{
			prepFn: func(s *aio.SQE) { s.PrepRead(f.fd, buf, off+int64(n)) },
			doneFn: func(res int32, err error) {
				switch {
				case err != nil:
				case res < 0:
					err = fileErr("readat", f, res)
				case res == 0:
					err = io.EOF
				default:
					n += int(res)
					if n < len(p) {
						if err = read(false); err == nil {
							return
						}
					}
				}
				f.pfd.Decref()
				done(n, err)
			},
		}
		if first {
			return r.begin(op)
		}
		return r.next(op)
	}
	if err := read(true); err != nil {
		f.pfd.Decref()
		return err
	}
	return nil
}

// hold begins a ReadAt or WriteAt (op) on the ring: it takes a reference
// to f's fd for the call, unless the call ends at once: an ended ctx or a
// stopped loop (its error), an invalid offset (EINVAL, as the File's
// method says), a closed f, or nothing to do, whose results go to done.
// ok says the call goes on, holding the reference.
func (a *Async) hold(ctx context.Context, op string, f *File, invalid, empty bool, done func(int, error)) (ok bool, err error) {
	if err := a.ring.check(ctx); err != nil {
		return false, err
	}
	switch {
	case invalid:
		return false, a.post(func() { done(0, &fs.PathError{Op: op, Path: f.name, Err: syscall.EINVAL}) })
	case f.pfd.Incref() != nil:
		return false, a.post(func() { done(0, &fs.PathError{Op: op, Path: f.name, Err: aio.File.ErrClosed()}) })
	case empty:
		f.pfd.Decref()
		return false, a.post(func() { done(0, nil) })
	}
	return true, nil
}

// WriteAt writes p to f at offset off (File.WriteAt) and calls done with
// the count and error.
func (a *Async) WriteAt(ctx context.Context, f *File, p []byte, off int64, done func(int, error)) error {
	if !a.onRing(f) {
		return submit(a, ctx, func() (int, error) { return f.WriteAt(p, off) }, done)
	}
	if ok, err := a.hold(ctx, "writeat", f, f.append || off < 0, len(p) == 0, done); !ok {
		return err
	}
	// The first write is begun here, so that a stopped loop is an error
	// of WriteAt's; writeAll goes on from its result.
	r := a.ring
	finish := func(n int, res int32, err error) {
		if err == nil && res < 0 {
			err = fileErr("writeat", f, res)
		} else if err == nil && res == 0 {
			err = &fs.PathError{Op: "writeat", Path: f.name, Err: io.ErrShortWrite}
		}
		f.pfd.Decref()
		done(n, err)
	}
	err := r.begin(&funcOp{
		prepFn: func(s *aio.SQE) { s.PrepWrite(f.fd, p, off) },
		doneFn: func(res int32, err error) {
			if err != nil || res <= 0 || int(res) == len(p) {
				finish(max(int(res), 0), res, err)
				return
			}
			m := int(res)
			r.writeAll(f.fd, p[m:], off+int64(m), func(n int, res int32, err error) { finish(m+n, res, err) })
		},
	})
	if err != nil {
		f.pfd.Decref()
	}
	return err
}

// Sync flushes f to its device (File.Sync) and calls done.
func (a *Async) Sync(ctx context.Context, f *File, done func(error)) error {
	if !a.onRing(f) {
		return submitErr(a, ctx, f.Sync, done)
	}
	if err := a.ring.check(ctx); err != nil {
		return err
	}
	if f.pfd.Incref() != nil {
		return a.post(func() { done(&fs.PathError{Op: "sync", Path: f.name, Err: aio.File.ErrClosed()}) })
	}
	err := a.ring.begin(&funcOp{
		prepFn: func(s *aio.SQE) { s.PrepFsync(f.fd, 0) },
		doneFn: func(res int32, err error) {
			if err == nil && res < 0 {
				err = fileErr("sync", f, res)
			}
			f.pfd.Decref()
			done(err)
		},
	})
	if err != nil {
		f.pfd.Decref()
	}
	return err
}

// CloseFile closes f (File.Close) and calls done with close's error. On
// io_uring the close is an operation on the ring, unless calls on f are
// still in progress: then a job on the pool waits for them and closes f.
func (a *Async) CloseFile(ctx context.Context, f *File, done func(error)) error {
	if !a.onRing(f) {
		return submitErr(a, ctx, f.Close, done)
	}
	if err := a.ring.check(ctx); err != nil {
		return err
	}
	idle, err := f.pfd.CloseNoWait()
	if err != nil {
		return a.post(func() { done(&fs.PathError{Op: "close", Path: f.name, Err: err}) })
	}
	release := func(err error) error {
		f.putDirBuf()
		return pathErr("close", f.name, err)
	}
	if !idle {
		// A job waits for the calls under way, then closes. If the loop
		// stops before a worker takes it, a goroutine does that instead:
		// f is closed already, and its fd must not stay open.
		later := func() { go func() { f.pfd.WaitClose(); release(f.l.Close(f.fd)) }() }
		ran := false
		err := a.loop.Submit(context.Background(), func(context.Context) (any, error) {
			ran = true
			f.pfd.WaitClose()
			return nil, release(f.l.Close(f.fd))
		}, func(_ any, err error) {
			if !ran {
				later()
				err = fileClosed(err)
			}
			done(err)
		})
		if err != nil {
			later()
			return fileClosed(err)
		}
		return nil
	}
	a.ring.closeFd(f.fd, func(err error) { done(release(err)) })
	return nil
}
