// Package md reads Linux MD RAID superblocks (metadata 0.90 and 1.0, 1.1,
// 1.2) from disk.Devices and assembles raid1, raid0 and linear arrays as
// devices, in Go, without the kernel's md driver (which LKL lacks).
//
// It sits beside the stack with disk/part and disk/lvm, below sys: it
// imports only package disk. Package disk/volume finds members on whole
// disks and their partitions and opens an array by name for sys/lkl;
// `demo info` lists what Assemble finds.
//
// ReadMember finds a member's superblock (0.90 and 1.0 near the end of
// the device, 1.1 at its start, 1.2 at 4 KiB) and checks its checksum;
// Assemble groups members by array UUID and keeps those with the newest
// event count. raid1 reads from any in-sync member and writes to all; a
// degraded raid1 opens read-only, with a warning in Array.Warnings.
// raid4, raid5, raid6 and raid10 are listed with their level and refused.
// Nothing is ever written to a superblock: the array is not marked dirty
// while it is written to, so a crash in the middle of a raid1 write can
// leave its mirrors different without md knowing (docs/volumes.md).
package md
