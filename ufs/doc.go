// Package ufs is gokernel's file system: io/fs.FS, and a writable tree of
// files and directories, on any kernel. An FS is the tree under one
// directory of one kernel — the host's, or LKL's, where a disk image (ext4,
// xfs, vfat, btrfs) attached with lkl.Kernel.AddDisk is read and written
// without the host mounting anything.
//
// ufs sits on libgo, whose typed calls it makes on the FS's kernel, and on
// eloop, whose worker pool runs its asynchronous API (Async); it imports
// sys for the Kernel type and golang.org/x/sys/unix for constants and
// types only. It never imports unet, its sibling. cmd/demo's image tools
// (ls, cat, cp-out, cp-in, tar) are built on it.
//
// An FS implements fs.FS, fs.ReadDirFS, fs.ReadFileFS, fs.StatFS,
// fs.SubFS, fs.GlobFS and fs.ReadLinkFS, so fs.WalkDir, fstest.TestFS,
// http.FS and template.ParseFS work on it; its File implements
// fs.ReadDirFile, io.ReaderAt, io.WriterAt, io.Seeker, io.WriterTo and
// io.ReaderFrom. Copying between kernels is io.Copy between a File of an
// FS on the host and one of an FS on LKL.
//
// Names are confined to the FS's root as os.Root confines them (see FS).
// Errors are *fs.PathError around a bare syscall.Errno (or fs.ErrInvalid,
// fs.ErrClosed); io.EOF is never wrapped.
//
// Of the fd runtime (aio) ufs uses FD for a File (reference count, read
// and write locks, close after the last call), Refs for the FS's root
// directory, and aio.File's closed error (fs.ErrClosed), which Async
// reports too, for a loop that has stopped. Files are never waited on
// through a poller: regular files are always "ready", so ufs has no
// PollDesc and no try → wait loop (Retry); its Async API runs on eloop.
package ufs
