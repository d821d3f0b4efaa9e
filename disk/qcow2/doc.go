// Package qcow2 reads qcow2 disk images (versions 2 and 3, as qemu-img
// writes them): the header, the L1 and L2 tables, zlib-compressed and zero
// clusters, and backing files, which are read where the image has no data.
// It only reads: refcounts and snapshots are ignored, and a writable qcow2
// disk is an overlay (package disk) over a read-only Image.
//
// qcow2 sits under package disk, which opens images through it (disk.Open
// with format "qcow2" or detected), and imports nothing of gokernel, not
// even disk: an Image is an io.ReaderAt with a Size. The input is
// untrusted, so it is read as debug/elf and archive/zip read theirs: every
// offset and count is checked against the file's size before it is used,
// nothing is allocated because the image claims it, and a malformed image
// is a *FormatError naming the field. Images using what this package does
// not read (encryption, an external data file, zstd compression, extended
// L2 entries, unknown incompatible features) are refused with an error
// that wraps errors.ErrUnsupported.
//
// The format is described in qemu's docs/interop/qcow2.txt.
package qcow2
