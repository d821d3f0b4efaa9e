package fsprobe_test

import (
	"fmt"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/fsprobe"
)

// Probe a device and judge it against the LKL kernel: here an XFS v5
// superblock with the bigtime feature, which Linux 4.9 lacks.
func ExampleProbe() {
	d := disk.NewMemory(16 << 20)
	sb := make([]byte, 512)
	copy(sb, "XFSB")
	sb[6] = 0x10              // sb_blocksize 4096
	sb[14] = 0x10             // sb_dblocks: 4096 blocks
	sb[101] = 5               // sb_versionnum 5
	copy(sb[108:], "data")    // sb_fname
	sb[219] = 0x1 | 0x2 | 0x8 // sb_features_incompat: ftype, sparse, bigtime
	d.WriteAt(sb, 0)

	r, err := fsprobe.Probe(d)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Type, r.Label, r.Size)
	fmt.Println(r.Check.Verdict, r.Check.Missing)
	fmt.Println(r.Check.Fix)
	// Output:
	// xfs data 16777216
	// not-mountable [bigtime]
	// mkfs.xfs -m bigtime=0
}
