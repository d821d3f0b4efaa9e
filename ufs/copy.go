package ufs

import (
	"io"
	"syscall"

	"github.com/gokernel/gokernel/sys"
)

// Copying: io.WriterTo and io.ReaderFrom. Between two Files on the same
// kernel the bytes stay in that kernel (copy_file_range(2), else
// sendfile(2)); into a host fd by the File's kernel where it can
// (copy_host.go); anything else is copied through one buffer of copyBuf
// bytes, which is large because every call into LKL costs a cgo call.

// copyBuf is the buffer size of a copy through memory.
const copyBuf = 1 << 20

// maxChunk is the most one copy_file_range or sendfile call is asked for.
const maxChunk = 1 << 30

// WriteTo copies the File, from its offset to its end, to w. It
// implements io.WriterTo, so io.Copy(w, f) takes it.
func (f *File) WriteTo(w io.Writer) (n int64, err error) {
	if dst, ok := w.(*File); ok {
		if n, handled, err := dst.copyIn(f, -1); handled || err != nil {
			return n, err
		}
	}
	n, done, err := f.copyToHost(w)
	if done || err != nil {
		return n, err
	}
	m, err := copyBuffer(w, onlyReader{f})
	return n + m, err
}

// ReadFrom copies r, to its end, into the File at its offset. It
// implements io.ReaderFrom, so io.Copy(f, r) takes it. A *File on the
// same kernel, or an *io.LimitedReader around one, is copied inside the
// kernel.
func (f *File) ReadFrom(r io.Reader) (n int64, err error) {
	src, limit := r, int64(-1)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, limit = lr.R, lr.N
	}
	if sf, ok := src.(*File); ok {
		n, handled, err := f.copyIn(sf, limit)
		if lr, ok := r.(*io.LimitedReader); ok {
			lr.N -= n
		}
		if handled || err != nil {
			return n, err
		}
		m, err := copyBuffer(onlyWriter{f}, r)
		return n + m, err
	}
	return copyBuffer(onlyWriter{f}, r)
}

// copyIn copies up to limit bytes (all, if limit < 0) from src to f inside
// their kernel, when they share one. handled is false if the kernel would
// not do it (different kernels, or the calls are refused before the first
// byte); the caller then copies the rest through memory.
func (f *File) copyIn(src *File, limit int64) (n int64, handled bool, err error) {
	if f == nil || src == nil || !sameKernel(f.l.Kernel(), src.l.Kernel()) {
		return 0, false, nil
	}
	err = f.useWrite("write", func() error {
		return src.useRead("read", func() error {
			useCFR := true
			for limit < 0 || n < limit {
				chunk := maxChunk
				if limit >= 0 {
					chunk = int(min(limit-n, maxChunk))
				}
				var m int
				var err error
				if useCFR {
					m, err = f.l.CopyFileRange(src.fd, nil, f.fd, nil, chunk, 0)
					if refused(err) {
						useCFR = false
						m, err = f.l.Sendfile(f.fd, src.fd, nil, chunk)
					}
				} else {
					m, err = f.l.Sendfile(f.fd, src.fd, nil, chunk)
				}
				if err != nil {
					if n == 0 && refused(err) {
						return nil // not handled: copy through memory
					}
					return pathErr("write", f.name, err)
				}
				handled = true
				if m == 0 {
					return nil
				}
				n += int64(m)
			}
			handled = true
			return nil
		})
	})
	return n, handled, err
}

// sameKernel reports whether a and b are the same kernel; kernels of a
// type that cannot be compared are taken as different.
func sameKernel(a, b sys.Kernel) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// refused reports whether a copy_file_range or sendfile error means "not
// between these two files", rather than an I/O error.
func refused(err error) bool {
	switch err {
	case syscall.EXDEV, syscall.EINVAL, syscall.ENOSYS, syscall.EOPNOTSUPP, syscall.EBADF:
		return true
	}
	return false
}

// onlyReader and onlyWriter hide a File's WriteTo and ReadFrom from
// io.CopyBuffer, which would call them again.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

func copyBuffer(w io.Writer, r io.Reader) (int64, error) {
	if _, ok := w.(io.ReaderFrom); ok {
		w = onlyWriter{w}
	}
	if _, ok := r.(io.WriterTo); ok {
		r = onlyReader{r}
	}
	return io.CopyBuffer(w, r, make([]byte, copyBuf))
}
