// Package fsprobe identifies what a block device holds — a file system,
// an encrypted or RAID or LVM volume, swap, or a partition table — from
// its magic numbers and superblock, reading only a few KiB, as blkid -p
// does. For ext2/3/4, XFS and btrfs it decodes the feature flags and
// judges them against Linux 4.9, the kernel gokernel's LKL runs: whether
// the file system mounts, mounts only read-only, or not at all, which
// features are in the way and which mkfs options make an image without
// them.
//
// fsprobe sits in the disk layer, beside the stack: it reads a
// disk.Device (any io.ReaderAt with a size is one, see disk.ReaderAt)
// and imports nothing of gokernel but the disk layer: disk, disk/part
// (ProbeLayout), and disk/lvm and disk/md, whose readers recognise PVs
// and MD members. sys/lkl probes a disk before it mounts it, to refuse
// an image LKL cannot mount with the reason instead of the kernel's
// "invalid argument"; cmd/demo's info command prints what it finds
// without booting a kernel. Partition
// tables are read by disk/part and volumes opened by disk/volume;
// fsprobe recognises them, so that a caller can say where to look.
//
// Every offset and size read from the device is checked before it is
// used, a probe reads a bounded number of bytes whatever the device
// claims, and a malformed superblock is simply not recognised (a failed
// read is an *Error): fsprobe never panics on its input (FuzzProbe).
// docs/inspect.md lists the features Linux 4.9 lacks, per file system.
package fsprobe
