// Package disk is the block-device layer of gokernel: disks served from Go.
//
// A [Device] is what LKL's virtio-blk requests are served from: ReadAt,
// WriteAt, Size and Flush, with optional upgrades discovered by type
// assertion ([Discarder], [ZeroWriter], [ReadOnlyDevice], [VectorReader],
// [VectorWriter]), in the way io/fs upgrades an fs.FS. Any io.ReaderAt with
// a size is enough for a read-only disk ([ReaderAt]).
//
// The package sits beside the stack, not in it: devices are plain Go I/O
// and need no kernel, so disk imports nothing of gokernel. sys/lkl adapts
// virtio-blk requests to a Device (Kernel.AttachDisk); cmd/demo opens the
// devices a command line names. Each stage wraps the one below it, as in
// qemu's block layer (format driver over protocol driver): a source (file,
// memory, HTTP range, NBD), a format (raw, qcow2), a copy-on-write overlay,
// a partition or volume window, then the file system LKL mounts.
//
// The package ships a raw image file or block device ([File]), a sparse
// disk in memory ([Memory]), a copy-on-write [Overlay] (in memory or in a
// sidecar file), a read cache with read-ahead ([Cache]), and [Open],
// which builds a chain from a [Spec] as a configuration names it. Package
// disk/qcow2 reads qcow2 images; URL sources (disk/httpdisk, disk/nbd)
// plug into Open through Spec.Sources. docs/disks.md describes them all
// and how to write a device.
package disk
