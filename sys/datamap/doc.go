// Package datamap says where a file's data is: the runs of a file that may
// hold data (lseek's SEEK_DATA and SEEK_HOLE, as cp --sparse=auto finds
// them) and where its bytes lie on the file system's device (the
// FS_IOC_FIEMAP ioctl), with the rules for when that map can be trusted
// to copy the bytes straight out of a disk image.
//
// It sits in sys, below libgo, and makes its calls on the kernel it is
// given (a sys.Kernel, or anything with its Syscall method):
// libgo's IoctlFiemap, ufs's Copier (sparse copies, and direct copies
// from the image file) and sys/isolated's tree export, whose walk runs in
// the isolated child before libgo exists in that process, all use it, so
// a hostile image's file map meets one set of rules in-process and
// isolated.
package datamap
