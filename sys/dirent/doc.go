// Package dirent decodes what getdents64(2) returns: struct linux_dirent64
// records (include/linux/dirent.h; the same layout on the host and on
// LKL's generic ABI), and checks a directory's stream of batches for the
// one way a file system can make it endless.
//
// It sits in sys, below libgo, with no state and no system calls of its
// own: libgo's DirReader reads directories with it, and so does
// sys/isolated's child, whose tree export walks a directory on its own
// LKL before libgo exists in that process. One decoder, one check, for
// both: a hostile disk image meets the same rules in-process and
// isolated.
//
// Nothing here trusts its input: a record is read by offset, never by
// casting bytes to a struct, so a short or corrupt buffer is an error
// (EINVAL), never a read out of bounds or a panic.
package dirent
