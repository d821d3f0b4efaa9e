package fsprobe

import "fmt"

// ext2/3/4: the superblock is the 1024 bytes at 1024 (fs/ext4/ext4.h,
// struct ext4_super_block).
const extSB = 1024

// extFeatures are ext2/3/4's feature bits, named as mke2fs -O spells
// them, with the Linux version whose ext4 first mounts each (Linux's
// EXT4_FEATURE_*_SUPP and the e2fsprogs release notes).
var extFeatures = []featureDef{
	{set: SetCompat, bit: 0x1, name: "dir_prealloc", since: "2.6"},
	{set: SetCompat, bit: 0x2, name: "imagic_inodes", since: "2.6"},
	{set: SetCompat, bit: 0x4, name: "has_journal", since: "2.6"},
	{set: SetCompat, bit: 0x8, name: "ext_attr", since: "2.6"},
	{set: SetCompat, bit: 0x10, name: "resize_inode", since: "2.6"},
	{set: SetCompat, bit: 0x20, name: "dir_index", since: "2.6"},
	{set: SetCompat, bit: 0x40, name: "lazy_bg"},
	{set: SetCompat, bit: 0x100, name: "snapshot_bitmap"},
	{set: SetCompat, bit: 0x200, name: "sparse_super2", since: "3.16"},
	{set: SetCompat, bit: 0x400, name: "fast_commit", since: "5.10", opt: "-O", val: "^fast_commit"},
	{set: SetCompat, bit: 0x800, name: "stable_inodes", since: "5.5", opt: "-O", val: "^stable_inodes"},
	{set: SetCompat, bit: 0x1000, name: "orphan_file", since: "5.15", opt: "-O", val: "^orphan_file"},

	{set: SetROCompat, bit: 0x1, name: "sparse_super", since: "2.6"},
	{set: SetROCompat, bit: 0x2, name: "large_file", since: "2.6"},
	{set: SetROCompat, bit: 0x4, name: "btree_dir", since: "2.6"},
	{set: SetROCompat, bit: 0x8, name: "huge_file", since: "2.6"},
	{set: SetROCompat, bit: 0x10, name: "uninit_bg", since: "2.6"},
	{set: SetROCompat, bit: 0x20, name: "dir_nlink", since: "2.6"},
	{set: SetROCompat, bit: 0x40, name: "extra_isize", since: "2.6"},
	{set: SetROCompat, bit: 0x80, name: "snapshot"},
	{set: SetROCompat, bit: 0x100, name: "quota", since: "3.6"},
	{set: SetROCompat, bit: 0x200, name: "bigalloc", since: "3.2"},
	{set: SetROCompat, bit: 0x400, name: "metadata_csum", since: "3.5"},
	{set: SetROCompat, bit: 0x800, name: "replica"},
	{set: SetROCompat, bit: 0x1000, name: "readonly", since: "4.4"},
	{set: SetROCompat, bit: 0x2000, name: "project", since: "4.5"},
	{set: SetROCompat, bit: 0x4000, name: "shared_blocks", opt: "-O", val: "^shared_blocks"},
	{set: SetROCompat, bit: 0x8000, name: "verity", since: "5.4", opt: "-O", val: "^verity"},
	{set: SetROCompat, bit: 0x10000, name: "orphan_present", since: "5.15", hint: "orphan_present is set while a newer kernel has files open for deletion: mount it once on Linux 5.15 or later, or run e2fsck"},

	{set: SetIncompat, bit: 0x1, name: "compression"},
	{set: SetIncompat, bit: 0x2, name: "filetype", since: "2.6"},
	{set: SetIncompat, bit: 0x4, name: "needs_recovery", since: "2.6"},
	{set: SetIncompat, bit: 0x8, name: "journal_dev", hint: "journal_dev marks an external journal, not a file system"},
	{set: SetIncompat, bit: 0x10, name: "meta_bg", since: "2.6"},
	{set: SetIncompat, bit: 0x40, name: "extent", since: "2.6"},
	{set: SetIncompat, bit: 0x80, name: "64bit", since: "2.6"},
	{set: SetIncompat, bit: 0x100, name: "mmp", since: "3.0"},
	{set: SetIncompat, bit: 0x200, name: "flex_bg", since: "2.6"},
	{set: SetIncompat, bit: 0x400, name: "ea_inode", since: "4.13", opt: "-O", val: "^ea_inode"},
	{set: SetIncompat, bit: 0x1000, name: "dirdata"},
	{set: SetIncompat, bit: 0x2000, name: "metadata_csum_seed", since: "4.4", opt: "-O", val: "^metadata_csum_seed"},
	{set: SetIncompat, bit: 0x4000, name: "large_dir", since: "4.13", opt: "-O", val: "^large_dir"},
	{set: SetIncompat, bit: 0x8000, name: "inline_data", since: "3.8"},
	{set: SetIncompat, bit: 0x10000, name: "encrypt", since: "4.1"},
	{set: SetIncompat, bit: 0x20000, name: "casefold", since: "5.2", opt: "-O", val: "^casefold"},
}

// Bits that make an ext file system ext4 rather than ext3 (blkid's rule):
// any incompat or ro_compat feature ext3 did not have.
const (
	ext3Incompat = 0x2 | 0x4 | 0x10 // filetype, needs_recovery, meta_bg
	ext3ROCompat = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
	extJournal   = 0x4              // compat has_journal
	extJournDev  = 0x8              // incompat journal_dev
	ext64bit     = 0x80             // incompat 64bit
	extMaxLog    = 6                // s_log_block_size: 64 KiB blocks at most
)

func (p *prober) ext() (*Result, error) {
	sb := p.at(extSB, 1024)
	if sb == nil || le.Uint16(sb[56:]) != 0xEF53 {
		return nil, nil
	}
	logBS := le.Uint32(sb[24:])
	if logBS > extMaxLog || le.Uint32(sb[76:]) > 1 { // s_rev_level 0 or 1
		return nil, nil
	}
	compat, incompat, ro := le.Uint32(sb[92:]), le.Uint32(sb[96:]), le.Uint32(sb[100:])
	r := &Result{
		Usage:     UsageFilesystem,
		Version:   fmt.Sprintf("%d.%d", le.Uint32(sb[76:]), le.Uint16(sb[62:])),
		UUID:      uuid(sb[104:]),
		Label:     cstr(sb[120:136]),
		BlockSize: 1024 << logBS,
	}
	blocks := uint64(le.Uint32(sb[4:]))
	if incompat&ext64bit != 0 {
		blocks |= uint64(le.Uint32(sb[0x150:])) << 32
	}
	r.Size = mul(blocks, uint64(r.BlockSize))
	switch {
	case incompat&extJournDev != 0:
		r.Type = "jbd"
		r.unmountable = "an ext3/4 external journal device, not a file system"
	case incompat&^ext3Incompat != 0 || ro&^ext3ROCompat != 0:
		r.Type = "ext4"
	case compat&extJournal != 0:
		r.Type = "ext3"
	default:
		r.Type = "ext2"
	}
	r.Features = append(r.Features, features(extFeatures, SetCompat, uint64(compat))...)
	r.Features = append(r.Features, features(extFeatures, SetROCompat, uint64(ro))...)
	r.Features = append(r.Features, features(extFeatures, SetIncompat, uint64(incompat))...)
	return r, nil
}
