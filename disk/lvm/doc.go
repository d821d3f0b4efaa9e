// Package lvm reads LVM2 volume groups from disk.Devices and opens their
// linear and striped logical volumes as devices, in Go, without the
// kernel's device mapper (which LKL lacks) and without writing anything.
//
// It sits beside the stack with disk/qcow2 and disk/part, below sys: it
// imports only package disk. Package disk/volume finds PVs on whole disks
// and their partitions and opens an LV by name for sys/lkl, which attaches
// it as a Go-served disk; `demo info` lists what Scan finds.
//
// ReadPV finds a PV's label in its first four sectors and reads the
// metadata of each of its metadata areas (LVM's text format, checksum
// verified). Assemble groups PVs into VGs, each read from its newest
// good metadata copy; an LV whose segments are all linear or striped
// opens as a device spanning its PVs (LV.Open), one of another type
// (thin, snapshot, cache, raid, mirror, vdo) is listed with its type and
// refused (LV.Supported). The parsers read untrusted input: offsets,
// sizes and counts are checked against the device before use, and
// nothing is allocated because the metadata claims it.
package lvm
