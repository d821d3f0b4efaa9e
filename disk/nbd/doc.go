// Package nbd is a client of the Network Block Device protocol: a disk
// served by qemu-nbd, nbdkit, nbd-server or any other NBD server, and so
// every image format and source those serve (qcow2, vmdk, vhdx, vdi, ssh,
// curl, …).
//
// Dial connects to nbd://host[:port]/export or
// nbd+unix:///export?socket=PATH, performs the fixed newstyle handshake
// with NBD_OPT_GO (falling back to NBD_OPT_EXPORT_NAME for servers
// without it) and returns a *Device: several requests in flight on one
// connection, one goroutine reading the replies, writes, flush, trim and
// write-zeroes when the server offers them, read-only when it says so.
// The protocol is the one of doc/proto.md of the NetworkBlockDevice/nbd
// project; comments name its messages. Structured replies, TLS and
// metadata contexts are not negotiated.
//
// The package sits beside the gokernel stack, below package disk, which
// opens nbd:// URLs with it; it imports nothing of gokernel, and a
// *Device satisfies disk.Device, disk.ReadOnlyDevice, disk.Discarder and
// disk.ZeroWriter structurally. Writes refused because the export or the
// options are read-only return errors wrapping this package's
// [ErrReadOnly].
package nbd
