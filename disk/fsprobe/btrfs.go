package fsprobe

import "fmt"

// btrfs: the primary superblock is at 64 KiB (fs/btrfs/ctree.h, struct
// btrfs_super_block).
const btrfsSB = 0x10000

// btrfsFeatures are btrfs's feature bits (BTRFS_FEATURE_*), named and
// switched off as mkfs.btrfs -O spells them.
var btrfsFeatures = []featureDef{
	{set: SetROCompat, bit: 0x1, name: "free-space-tree", since: "4.5"},
	{set: SetROCompat, bit: 0x2, name: "free-space-tree-valid", since: "4.5"},
	{set: SetROCompat, bit: 0x4, name: "verity", since: "5.15", hint: "verity is set by fs-verity files: remove them on a newer kernel"},
	{set: SetROCompat, bit: 0x8, name: "block-group-tree", since: "6.1", opt: "-O", val: "^block-group-tree"},

	{set: SetIncompat, bit: 0x1, name: "mixed-backref", since: "2.6"},
	{set: SetIncompat, bit: 0x2, name: "default-subvol", since: "2.6"},
	{set: SetIncompat, bit: 0x4, name: "mixed-bg", since: "2.6"},
	{set: SetIncompat, bit: 0x8, name: "compress-lzo", since: "2.6"},
	{set: SetIncompat, bit: 0x10, name: "compress-zstd", since: "4.14", hint: "compress-zstd is set once a file is written with compress=zstd: write the image without zstd compression"},
	{set: SetIncompat, bit: 0x20, name: "big-metadata", since: "3.4"},
	{set: SetIncompat, bit: 0x40, name: "extref", since: "3.7"},
	{set: SetIncompat, bit: 0x80, name: "raid56", since: "3.9"},
	{set: SetIncompat, bit: 0x100, name: "skinny-metadata", since: "3.10"},
	{set: SetIncompat, bit: 0x200, name: "no-holes", since: "3.14"},
	{set: SetIncompat, bit: 0x400, name: "metadata-uuid", since: "5.0", hint: "metadata-uuid is set by btrfstune -m/-M: undo it with btrfstune -U on the original fsid"},
	{set: SetIncompat, bit: 0x800, name: "raid1c34", since: "5.5", opt: "-O", val: "^raid1c34"},
	{set: SetIncompat, bit: 0x1000, name: "zoned", since: "5.12", opt: "-O", val: "^zoned"},
	{set: SetIncompat, bit: 0x2000, name: "extent-tree-v2", since: "6.0", opt: "-O", val: "^extent-tree-v2"},
	{set: SetIncompat, bit: 0x4000, name: "raid-stripe-tree", since: "6.7", opt: "-O", val: "^raid-stripe-tree"},
	{set: SetIncompat, bit: 0x10000, name: "squota", since: "6.7", opt: "-O", val: "^squota"},
}

func (p *prober) btrfs() (*Result, error) {
	sb := p.at(btrfsSB, 0x1000)
	if sb == nil || string(sb[64:72]) != "_BHRfS_M" {
		return nil, nil
	}
	sector, node := le.Uint32(sb[144:]), le.Uint32(sb[148:])
	if sector < 512 || sector > 65536 || !isPow2(uint64(sector)) || !isPow2(uint64(node)) {
		return nil, nil
	}
	r := &Result{
		Type:      "btrfs",
		Usage:     UsageFilesystem,
		UUID:      uuid(sb[32:]),
		Label:     cstr(sb[299 : 299+256]),
		BlockSize: int(sector),
		Size:      int64(min(le.Uint64(sb[112:]), 1<<63-1)),
	}
	switch csum := le.Uint16(sb[196:]); {
	case csum != 0:
		r.unmountable = fmt.Sprintf("checksum type %s, which Linux %s lacks (it has crc32c only; xxhash, sha256 and blake2 came in 5.5): mkfs.btrfs --csum crc32c", btrfsCsum(csum), Kernel)
	case sector != 4096:
		r.unmountable = fmt.Sprintf("%d-byte sectors; Linux %s mounts only 4096 (its page size): mkfs.btrfs -s 4096", sector, Kernel)
	case le.Uint64(sb[136:]) > 1:
		r.unmountable = fmt.Sprintf("one of %d devices of a multi-device btrfs; LKL is given one disk", le.Uint64(sb[136:]))
	}
	r.Features = append(r.Features, features(btrfsFeatures, SetCompat, le.Uint64(sb[172:]))...)
	r.Features = append(r.Features, features(btrfsFeatures, SetROCompat, le.Uint64(sb[180:]))...)
	r.Features = append(r.Features, features(btrfsFeatures, SetIncompat, le.Uint64(sb[188:]))...)
	return r, nil
}

func btrfsCsum(c uint16) string {
	switch c {
	case 1:
		return "xxhash64"
	case 2:
		return "sha256"
	case 3:
		return "blake2b"
	}
	return fmt.Sprintf("%d", c)
}
