package sys

// A HostCopier is a Kernel that can copy one of its files into a host
// file descriptor by itself (an optional capability of a Kernel, as
// HostKernel is): sys/isolated's kernel, whose file data would otherwise
// cross into this process only to be written out again. ufs's io.WriterTo
// uses it when the writer is a host fd (an *os.File, a net.Conn, a ufs
// File of the host kernel). The
// host and in-process LKL do not offer it: their copy through memory is
// not slower. Wrappers (Tracer, Injector) do not pass it on, so that
// every call stays visible to them.
type HostCopier interface {
	Kernel
	// CopyToHost copies up to n bytes (n < 0: to the end of the file) from
	// fd, open on the kernel and seekable, at its offset, to the host's fd
	// dst at dst's own offset, as a loop of read(fd) and write(dst) would,
	// and advances fd's offset by the bytes written to dst, and no
	// further: bytes read but not written are read again by the next read.
	// It returns the bytes written and the error that stopped it: an
	// *os.SyscallError for "write" with the errno if a write to dst failed
	// (EAGAIN: dst is non-blocking and full; the caller may write the rest
	// itself, to meet that error as its own write's); an error for
	// which errors.Is(err, errors.ErrUnsupported) holds if this kernel
	// cannot copy fd or reach dst this way (nothing was copied; the caller
	// copies through memory); otherwise the error of a read of fd or of
	// the kernel.
	CopyToHost(fd int, dst uintptr, n int64) (int64, error)
}
