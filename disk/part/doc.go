// Package part reads partition tables (GPT and MBR, with MBR's extended
// and logical partitions) from a disk.Device, and makes a device of each
// partition.
//
// It sits beside the stack with disk/qcow2, below sys: it imports only
// package disk, and needs no kernel. Package disk/volume scans the
// partitions it finds for LVM physical volumes and MD members, and
// `demo info` lists them. LKL partitions an attached disk by itself (its
// block layer reads the same tables), so a partition opened through LKL
// (Disk.Partition) does not go through this package; the numbers agree:
// Partition.Number is the number Linux gives the partition.
//
// The parser reads untrusted input: every offset and count read from the
// disk is checked against the disk's size before it is used, and nothing
// is allocated because the table claims it.
package part
