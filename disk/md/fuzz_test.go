package md_test

import (
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/md"
)

// FuzzSuperblock reads arbitrary superblocks at each place one may be
// (the start, 4 KiB, the 1.0 and 0.90 places at the end), assembles what
// it finds and reads the array: errors, never a panic, a hang or an
// allocation the superblock merely claims.
func FuzzSuperblock(f *testing.F) {
	for _, v := range []string{"0.90", "1.0", "1.1", "1.2"} {
		for _, level := range []int32{1, 0, -1, 5} {
			b, _ := layout(v, level).Bytes(devSize)
			f.Add(b, uint8(v[2]))
		}
	}
	f.Fuzz(func(t *testing.T, sb []byte, where uint8) {
		if len(sb) > 8192 {
			return
		}
		d := disk.NewMemory(devSize)
		off := []int64{0, 4096, (devSize - 8192) &^ 4095, devSize - 64<<10}[where%4]
		d.WriteAt(sb, off)
		m, err := md.ReadMember(d)
		if err != nil {
			return
		}
		for _, a := range md.Assemble([]*md.Member{m, m}) {
			dev, err := a.Open()
			if err != nil {
				continue
			}
			if dev.Size() < 0 || dev.Size() > 2*devSize {
				t.Fatalf("array of %d bytes from members of %d", dev.Size(), devSize)
			}
			dev.ReadAt(make([]byte, 4096), 0)
		}
	})
}
