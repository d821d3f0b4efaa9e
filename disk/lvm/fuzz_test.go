package lvm_test

import (
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/lvm"
)

// FuzzMetadata parses arbitrary metadata text in a well-formed PV: an
// error or a VG, never a panic, a hang or an allocation the text merely
// claims; every LV that opens has the size its metadata gives.
func FuzzMetadata(f *testing.F) {
	f.Add(exampleText)
	f.Add(`vg { id = "x" seqno = 1 extent_size = 8 physical_volumes { pv0 { id = "PVPVPV-PVPV-PVPV-PVPV-PVPV-PVPV-PVPVPV" pe_start = 1 pe_count = 9 } }
logical_volumes { s { id = "s" status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 4 type = "striped" stripe_count = 2 stripe_size = 1 stripes = ["pv0", 0, "pv0", 4] } } } }`)
	f.Add(`a { b { c = [1, 2.5, "x\"y", []] } } d = -1 # comment`)
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 64<<10 {
			return
		}
		pv := memPV(32<<20, examplePVUUID, 128<<10, 512, text)
		vgs, _ := lvm.Scan(pv)
		for _, vg := range vgs {
			for _, lv := range vg.LVs {
				d, err := lv.Open()
				if err != nil {
					continue
				}
				if d.Size() != lv.Size {
					t.Fatalf("%s: device of %d bytes, LV of %d", lv, d.Size(), lv.Size)
				}
				d.ReadAt(make([]byte, 512), 0)
			}
		}
	})
}

// FuzzReadPV reads a PV label, PV header and metadata area header from
// arbitrary first sectors of a device.
func FuzzReadPV(f *testing.F) {
	pv := memPV(8<<20, examplePVUUID, 64<<10, 512, exampleText)
	seed := make([]byte, 8192)
	pv.ReadAt(seed, 0)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, head []byte) {
		if len(head) > 1<<20 {
			return
		}
		d := disk.NewMemory(8 << 20)
		d.WriteAt(head, 0)
		lvm.Scan(d)
	})
}
