package sys

import "io"

// A TreeExporter is a Kernel that can export a directory tree as one byte
// stream (an optional capability of a Kernel, as HostKernel is):
// sys/isolated's kernel, whose child walks the tree on its own LKL and
// writes the stream into a pipe, so that a tree of many small files costs
// one stream and not several round trips per file. ufs's Copier uses it
// when the source FS's kernel offers it. The host and in-process LKL do
// not: their walk through system calls is not slower. Wrappers (Tracer,
// Injector) do not pass it on, so that every call stays visible to them.
type TreeExporter interface {
	Kernel
	// ExportTree returns the stream (sys/treestream's format) of the
	// directory open on the kernel at dirfd, with everything under it;
	// the caller closes it, which stops the walk if it has not ended.
	// With extents, a file whose bytes all lie plainly in the disk image
	// the directory is on (FIEMAP) comes as its extents, not its bytes:
	// ask for them only when holding that image (ufs's
	// CopyOptions.Image).
	// The stream comes from the kernel's side and is to be checked as
	// untrusted input (treestream.Reader does). Reading it fails with
	// the kernel's error if the kernel dies or stops making progress.
	ExportTree(dirfd int, extents bool) (io.ReadCloser, error)
}
