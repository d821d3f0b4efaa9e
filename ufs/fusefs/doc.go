// Package fusefs serves a ufs.FS as a FUSE file system, so that every
// program on the host — ls, find, cp, tar, git — can use a tree that only
// gokernel can reach: above all a disk image mounted inside LKL, read and
// written by Linux's own ext4, xfs, btrfs or vfat driver in this process.
//
// A request travels: program → host kernel's FUSE → /dev/fuse →
// go-fuse (github.com/hanwen/go-fuse/v2, package fs) → this package →
// ufs → libgo → sys.Kernel (LKL) → LKL's file system → its block device.
//
// fusefs sits above ufs, whose FS resolves names confined to its root and
// whose File owns an open file's fd; it also uses libgo on the FS's kernel
// for the calls ufs does not offer by name (statfs, fallocate, renameat2,
// removexattr, copy_file_range), and sys for the Kernel type. It imports
// golang.org/x/sys/unix for constants and types only. cmd/demo's mount
// command is its user.
//
// go-fuse serves requests on many goroutines at once; fusefs takes no lock
// of its own around kernel calls, so requests reach the kernel (LKL takes
// calls from any thread) concurrently.
package fusefs
