package imagemut

// ext4 (fs/ext4/ext4.h): the superblock at 1024, the group descriptor
// table in the block after it, each group's inode table, and, from the
// inodes, extent tree blocks and directory blocks.

var ext4SBFields = fields(false,
	"s_inodes_count", 0, 4, "s_blocks_count_lo", 4, 4, "s_r_blocks_count_lo", 8, 4,
	"s_free_blocks_count_lo", 12, 4, "s_free_inodes_count", 16, 4, "s_first_data_block", 20, 4,
	"s_log_block_size", 24, 4, "s_log_cluster_size", 28, 4, "s_blocks_per_group", 32, 4,
	"s_clusters_per_group", 36, 4, "s_inodes_per_group", 40, 4, "s_magic", 56, 2, "s_state", 58, 2,
	"s_errors", 60, 2, "s_rev_level", 76, 4, "s_first_ino", 84, 4, "s_inode_size", 88, 2,
	"s_block_group_nr", 90, 2, "s_feature_compat", 92, 4, "s_feature_incompat", 96, 4,
	"s_feature_ro_compat", 100, 4, "s_reserved_gdt_blocks", 206, 2, "s_journal_inum", 224, 4,
	"s_desc_size", 254, 2, "s_first_meta_bg", 260, 4, "s_blocks_count_hi", 336, 4,
	"s_min_extra_isize", 348, 2, "s_want_extra_isize", 350, 2, "s_flags", 352, 4,
	"s_log_groups_per_flex", 372, 1, "s_checksum_type", 373, 1, "s_checksum_seed", 624, 4)

var ext4GDFields = fields(false,
	"bg_block_bitmap_lo", 0, 4, "bg_inode_bitmap_lo", 4, 4, "bg_inode_table_lo", 8, 4,
	"bg_free_blocks_count_lo", 12, 2, "bg_free_inodes_count_lo", 14, 2, "bg_used_dirs_count_lo", 16, 2,
	"bg_flags", 18, 2, "bg_itable_unused_lo", 28, 2, "bg_checksum", 30, 2)

var ext4InodeFields = append(fields(false,
	"i_mode", 0, 2, "i_size_lo", 4, 4, "i_links_count", 26, 2, "i_blocks_lo", 28, 4,
	"i_flags", 32, 4, "i_size_high", 108, 4, "i_file_acl_lo", 104, 4, "i_extra_isize", 128, 2,
	"i_checksum_lo", 124, 2),
	// i_block holds the extent tree's root: its header and four entries.
	extentFields(40, 4)...)

// extentFields are the fields of an extent tree node at off: its header
// and n entries (leaf or index; both are 12 bytes).
func extentFields(off, n int) []Field {
	fs := fields(false, "eh_magic", off, 2, "eh_entries", off+2, 2, "eh_max", off+4, 2, "eh_depth", off+6, 2)
	for i := range n {
		e := off + 12 + 12*i
		fs = append(fs, fields(false, "ee_block", e, 4, "ee_len", e+4, 2, "ee_start_hi", e+6, 2, "ee_start_lo", e+8, 4)...)
	}
	return fs
}

// ext4DirFields are the fields of the first directory entries of a block.
func ext4DirFields(b []byte) []Field {
	var fs []Field
	for off, i := 0, 0; i < maxEntries && off+8 <= len(b); i++ {
		fs = append(fs, fields(false, "inode", off, 4, "rec_len", off+4, 2, "name_len", off+6, 1, "file_type", off+7, 1)...)
		rl := int(le.Uint16(b[off+4:]))
		if rl < 8 {
			break
		}
		off += rl
	}
	return fs
}

func (l *locator) ext4() error {
	sb := l.read(1024, 1024)
	if sb == nil || le.Uint16(sb[56:]) != 0xEF53 {
		return ErrUnsupported
	}
	r := Region{Kind: "ext4-sb", Off: 1024, Len: 1024, Fields: ext4SBFields}
	const metadataCsum = 0x400
	csum := le.Uint32(sb[100:])&metadataCsum != 0
	var seed uint32 // the file system's checksum seed
	if csum {
		r.csum, r.csumAt = csumExt4, 1020
		seed = linuxCRC(^uint32(0), sb[104:120]) // s_uuid
		if le.Uint32(sb[96:])&0x2000 != 0 {      // metadata_csum_seed
			seed = le.Uint32(sb[624:])
		}
	}
	// withCsum gives r a metadata_csum style, if the file system has
	// checksums.
	withCsum := func(r Region, style int, seed, arg uint32) Region {
		if csum {
			r.csum, r.csumSeed, r.csumArg = style, seed, arg
		}
		return r
	}
	l.add(r)
	logBS := le.Uint32(sb[24:])
	if logBS > 6 {
		return nil
	}
	bs := uint64(1024) << logBS
	blocks := uint64(le.Uint32(sb[4:]))
	incompat := le.Uint32(sb[96:])
	descSize := uint64(32)
	if incompat&0x80 != 0 { // 64bit
		blocks |= uint64(le.Uint32(sb[336:])) << 32
		if ds := uint64(le.Uint16(sb[254:])); ds >= 32 && ds <= 1024 {
			descSize = ds
		}
	}
	bpg, ipg := uint64(le.Uint32(sb[32:])), uint64(le.Uint32(sb[40:]))
	isz := uint64(le.Uint16(sb[88:]))
	if le.Uint32(sb[76:]) == 0 {
		isz = 128
	}
	if bpg == 0 || ipg == 0 || isz < 128 || isz > bs || blocks == 0 {
		return nil
	}
	groups := min((blocks+bpg-1)/bpg, maxGroups)
	gdt := mulOff(uint64(le.Uint32(sb[20:]))+1, bs)
	var tables []int64
	for g := range groups {
		off := gdt + int64(g*descSize)
		gd := l.read(off, int(descSize))
		if gd == nil {
			break
		}
		l.add(withCsum(Region{Kind: "ext4-gd", Off: off, Len: int(descSize), Fields: ext4GDFields}, csumExt4GD, seed, uint32(g)))
		it := uint64(le.Uint32(gd[8:]))
		if descSize >= 64 {
			it |= uint64(le.Uint32(gd[0x28:])) << 32
		}
		tables = append(tables, mulOff(it, bs))
	}
	// The inodes of group 0 (the root, the reserved ones and the
	// first files) and the first few of the other groups.
	type inode struct {
		off int64
		ino uint32
	}
	var inodes []inode
	for g, t := range tables {
		n := uint64(4)
		if g == 0 {
			n = maxInodes / 2
		}
		for i := range min(n, ipg) {
			if len(inodes) == maxInodes {
				break
			}
			inodes = append(inodes, inode{t + int64(i*isz), uint32(uint64(g)*ipg + i + 1)})
		}
	}
	dirs := 0
	for _, ino := range inodes {
		off := ino.off
		in := l.read(off, int(isz))
		if in == nil || allZero(in) {
			continue
		}
		l.add(withCsum(Region{Kind: "ext4-inode", Off: off, Len: int(isz), Fields: ext4InodeFields}, csumExt4Inode, seed, ino.ino))
		// The seed of the blocks the inode owns: its number and
		// generation.
		iseed := linuxCRC(linuxCRC(seed, le.AppendUint32(nil, ino.ino)), in[100:104])
		// The blocks the extent tree's root points to: index or leaf
		// nodes (depth > 0) or, for a directory, its first data blocks.
		root := in[40:100]
		if le.Uint16(root) != 0xF30A {
			continue
		}
		depth, entries := le.Uint16(root[6:]), min(int(le.Uint16(root[2:])), 4)
		isDir := le.Uint16(in)&0xF000 == 0x4000
		for e := range entries {
			ent := root[12+12*e:]
			if depth > 0 {
				blk := uint64(le.Uint32(ent[4:])) | uint64(le.Uint16(ent[8:]))<<32
				r := withCsum(Region{Kind: "ext4-extent", Off: mulOff(blk, bs), Len: int(bs), Fields: extentFields(0, maxEntries)}, csumExt4Tail, iseed, 0)
				if eb := l.read(r.Off, r.Len); eb != nil {
					r.csumFrom = 12 + 12*int(le.Uint16(eb[4:])) // the tail after eh_max entries
					r.csumAt = r.csumFrom
					if r.csumAt+4 > r.Len {
						r.csum = csumNone
					}
					l.add(r)
				}
				continue
			}
			if !isDir || dirs >= maxDirs {
				continue
			}
			blk := uint64(le.Uint32(ent[8:])) | uint64(le.Uint16(ent[6:]))<<32
			n := min(uint64(le.Uint16(ent[4:]))&0x7FFF, 2)
			for b := range n {
				off := mulOff(blk+b, bs)
				db := l.read(off, int(bs))
				if db == nil {
					continue
				}
				r := Region{Kind: "ext4-dir", Off: off, Len: int(bs), Fields: ext4DirFields(db)}
				// A leaf block's checksum is in a 12-byte fake entry at
				// its end (struct ext4_dir_entry_tail).
				if t := db[len(db)-12:]; le.Uint32(t) == 0 && le.Uint16(t[4:]) == 12 && t[6] == 0 && t[7] == 0xDE {
					r = withCsum(r, csumExt4Tail, iseed, 0)
					r.csumFrom, r.csumAt = len(db)-12, len(db)-4
				}
				if l.add(r) {
					dirs++
				}
			}
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
