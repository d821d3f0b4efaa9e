package ufs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
)

// An Async runs an FS's calls on an eloop.Loop's worker pool and delivers
// their results to callbacks on the loop goroutine, as libuv's uv_fs_*
// calls do: programs built on the loop never block it on the file system.
//
// Each method submits one job (eloop.Loop.Submit) and returns Submit's
// error; once it has returned nil, done is called exactly once, on the
// loop goroutine, with the call's result, or with ctx's error if ctx ended
// before a worker took the job, or with an error satisfying
// errors.Is(err, fs.ErrClosed) if the loop stopped first: the closed error
// of a file, as the fd runtime's aio.File kind says, not the loop's
// net.ErrClosed. Submit's own error on a stopped loop is fs.ErrClosed as
// well.
type Async struct {
	fsys *FS
	loop *eloop.Loop
}

// NewAsync returns the asynchronous API of fsys on loop.
func NewAsync(fsys *FS, loop *eloop.Loop) *Async { return &Async{fsys: fsys, loop: loop} }

// Backend names what runs the Async's calls, as GOKERNEL_AIO names it:
// "epoll" for the loop's worker pool.
func (a *Async) Backend() string { return "epoll" }

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

// fileClosed turns the loop's closed error (eloop speaks net's) into a
// file's, fs.ErrClosed, keeping the message.
func fileClosed(err error) error {
	if err != nil && errors.Is(err, aio.Socket.ErrClosed()) {
		return fmt.Errorf("ufs: async: %w", aio.File.ErrClosed())
	}
	return err
}

// ReadFile reads the named file (FS.ReadFile) and calls done with its
// contents.
func (a *Async) ReadFile(ctx context.Context, name string, done func([]byte, error)) error {
	return submit(a, ctx, func() ([]byte, error) { return a.fsys.ReadFile(name) }, done)
}

// WriteFile writes data to the named file (FS.WriteFile) and calls done.
func (a *Async) WriteFile(ctx context.Context, name string, data []byte, perm fs.FileMode, done func(error)) error {
	return submit(a, ctx, func() (struct{}, error) { return struct{}{}, a.fsys.WriteFile(name, data, perm) },
		func(_ struct{}, err error) { done(err) })
}

// Stat stats the named file (FS.Stat) and calls done with its FileInfo.
func (a *Async) Stat(ctx context.Context, name string, done func(fs.FileInfo, error)) error {
	return submit(a, ctx, func() (fs.FileInfo, error) { return a.fsys.Stat(name) }, done)
}

// ReadDir reads the named directory (FS.ReadDir) and calls done with its
// entries, sorted by name.
func (a *Async) ReadDir(ctx context.Context, name string, done func([]fs.DirEntry, error)) error {
	return submit(a, ctx, func() ([]fs.DirEntry, error) { return a.fsys.ReadDir(name) }, done)
}

// OpenFile opens the named file (FS.OpenFile) and calls done with it.
// The File is an ordinary File of the FS: its methods work on any
// goroutine, and the Async methods below take it.
func (a *Async) OpenFile(ctx context.Context, name string, flag int, perm fs.FileMode, done func(*File, error)) error {
	return submit(a, ctx, func() (*File, error) { return a.fsys.OpenFile(name, flag, perm) }, done)
}

// ReadAt reads len(p) bytes of f at offset off (File.ReadAt) and calls
// done with the count and error: fewer bytes come with io.EOF. p belongs
// to the call until done.
func (a *Async) ReadAt(ctx context.Context, f *File, p []byte, off int64, done func(int, error)) error {
	return submit(a, ctx, func() (int, error) { return f.ReadAt(p, off) }, done)
}

// WriteAt writes p to f at offset off (File.WriteAt) and calls done with
// the count and error. p belongs to the call until done.
func (a *Async) WriteAt(ctx context.Context, f *File, p []byte, off int64, done func(int, error)) error {
	return submit(a, ctx, func() (int, error) { return f.WriteAt(p, off) }, done)
}

// Sync flushes f to its device (File.Sync) and calls done.
func (a *Async) Sync(ctx context.Context, f *File, done func(error)) error {
	return submit(a, ctx, func() (struct{}, error) { return struct{}{}, f.Sync() },
		func(_ struct{}, err error) { done(err) })
}

// CloseFile closes f (File.Close) and calls done with close's error.
func (a *Async) CloseFile(ctx context.Context, f *File, done func(error)) error {
	return submit(a, ctx, func() (struct{}, error) { return struct{}{}, f.Close() },
		func(_ struct{}, err error) { done(err) })
}
