package part_test

import (
	"os"
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/part"
)

// FuzzRead reads partition tables from arbitrary disks: errors, never a
// panic, a hang or an allocation the table merely claims. The seeds are
// the first 64 KiB and last 16 KiB of sfdisk's GPT and MBR images (the
// middle, all zeroes, is left out) joined by a gap the fuzzer may not
// change.
func FuzzRead(f *testing.F) {
	for _, script := range []string{gptScript, mbrScript} {
		img := sfdiskImage(f, script)
		b, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:64<<10], b[len(b)-16<<10:])
	}
	f.Fuzz(func(t *testing.T, head, tail []byte) {
		if len(head) > 1<<20 || len(tail) > 1<<20 {
			return
		}
		// A disk of 64 MiB: head at the start, tail at the end.
		d := disk.NewMemory(64 << 20)
		d.WriteAt(head, 0)
		d.WriteAt(tail, d.Size()-int64(len(tail)))
		tab, err := part.Read(d)
		if err != nil {
			return
		}
		for _, p := range tab.Partitions {
			dev := p.Device(d)
			if dev.Size() < 0 || dev.Size() > d.Size() {
				t.Fatalf("partition %d: device of %d bytes on a disk of %d", p.Number, dev.Size(), d.Size())
			}
		}
	})
}
