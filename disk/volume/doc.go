// Package volume finds the volumes on a set of disks, LVM2 logical
// volumes and MD RAID arrays, and opens one by the name users know it by:
// the layer between a disk's partitions and the file system on it.
//
// It sits beside the stack with disk/part, disk/lvm and disk/md, below
// sys, and composes them: Scan looks at each whole device and each of
// its partitions (GPT or MBR) for MD members and LVM PVs, assembles the
// arrays (and looks inside them for PVs too), then the VGs. Open returns
// the named volume as a disk.Device, which sys/lkl attaches like any Go
// device (a config entry's "volume" key, demo's --volume) and `demo info`
// lists what Scan finds. Nothing is written while scanning or opening.
//
// The layers, as docs/volumes.md draws them: file or URL → format (raw,
// qcow2) → overlay → partition → volume (this package) → partition
// (inside the volume, which LKL reads) → file system.
package volume
