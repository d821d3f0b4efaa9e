package disk_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/gokernel/gokernel/disk"
)

// concat is a custom device: two devices end to end, as a linear volume
// joins its extents. ReadAt and WriteAt split a request at the seam; the
// rest is Size and Flush. It is safe for concurrent use because its parts
// are.
type concat struct{ a, b disk.Device }

func (c concat) Size() int64 { return c.a.Size() + c.b.Size() }

func (c concat) Flush() error {
	if err := c.a.Flush(); err != nil {
		return err
	}
	return c.b.Flush()
}

// split runs op on the part of p before the seam on a, the rest on b.
func (c concat) split(p []byte, off int64, op func(d disk.Device, p []byte, off int64) (int, error)) (int, error) {
	seam := c.a.Size()
	if off >= seam {
		return op(c.b, p, off-seam)
	}
	k := int(min(int64(len(p)), seam-off))
	n, err := op(c.a, p[:k], off)
	if err != nil || k == len(p) {
		return n, err
	}
	m, err := op(c.b, p[k:], 0)
	return n + m, err
}

func (c concat) ReadAt(p []byte, off int64) (int, error) {
	return c.split(p, off, func(d disk.Device, p []byte, off int64) (int, error) { return d.ReadAt(p, off) })
}

func (c concat) WriteAt(p []byte, off int64) (int, error) {
	return c.split(p, off, func(d disk.Device, p []byte, off int64) (int, error) { return d.WriteAt(p, off) })
}

// Example writes a custom Device: two disks joined end to end.
func Example() {
	d := concat{disk.NewMemory(1024), disk.NewMemory(1024)}
	if _, err := d.WriteAt([]byte("across the seam"), 1020); err != nil {
		log.Fatal(err)
	}
	p := make([]byte, 15)
	d.ReadAt(p, 1020)
	q := make([]byte, 11)
	d.b.ReadAt(q, 0)
	fmt.Printf("%d bytes; %q; second disk starts with %q\n", d.Size(), p, q)
	// Output: 2048 bytes; "across the seam"; second disk starts with "ss the seam"
}

// ExampleReaderAt makes a read-only disk of anything with ReadAt.
func ExampleReaderAt() {
	d := disk.ReaderAt(strings.NewReader(strings.Repeat("x", 4096)), 4096)
	_, err := d.WriteAt([]byte("y"), 0)
	fmt.Println(d.Size(), disk.IsReadOnly(d), err)
	// Output: 4096 true disk: write at 0: disk: read-only device
}

// ExampleNewOverlay writes over a read-only disk without changing it, then
// lists what changed.
func ExampleNewOverlay() {
	base := disk.ReaderAt(strings.NewReader(strings.Repeat("\x00", 1<<20)), 1<<20)
	ov := disk.NewOverlay(base)
	ov.WriteAt([]byte("hello"), 8192)
	ov.WriteAt([]byte("world"), 12288)
	p := make([]byte, 5)
	ov.ReadAt(p, 8192)
	base.ReadAt(p[:1], 8192)
	fmt.Printf("%q %q %+v\n", p[1:], p[:1], ov.Extents())
	// Output: "ello" "\x00" [{Off:8192 Len:8192}]
}

// ExampleOpen opens a disk image the way a configuration names it: the
// format is detected, and writes go to a memory overlay.
func ExampleOpen() {
	d, err := disk.Open(disk.Spec{Path: "/dev/null", Overlay: "memory"})
	fmt.Println(d, err)
	_, err = disk.Open(disk.Spec{Path: "disk.vmdk", Format: "vmdk"})
	fmt.Println(err)
	// Output:
	// <nil> path: /dev/null: not a regular file or block device
	// format: "vmdk" is not a format gokernel reads (raw, qcow2)
}

// ExampleNewCache puts a read cache over a disk that is read in small
// pieces, and counts the reads that reach the disk.
func ExampleNewCache() {
	m := disk.NewMemory(4 << 20)
	c := disk.NewCache(m, nil)
	p := make([]byte, 1024)
	for off := int64(0); off < m.Size(); off += 1024 {
		c.ReadAt(p, off)
	}
	s := c.Stats()
	fmt.Println(s.Requests, "requests,", s.DevReads, "device reads")
	// Output: 4096 requests, 7 device reads
}
