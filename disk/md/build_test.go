package md_test

import "github.com/gokernel/gokernel/internal/imagetest"

// The tests' members: superblocks written by imagetest from the
// documented layout, checked with mdadm --examine (TestExamine).

// sb describes one member's superblock.
type sb = imagetest.MDSuperblock
