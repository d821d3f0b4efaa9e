package imagemut

// xfs (fs/xfs/libxfs/xfs_format.h, big-endian): each AG starts with a
// copy of the superblock, the AGF and the AGI, one sector each; the
// root directory's inode chunk holds the first files' inodes.

var xfsSBFields = fields(true,
	"sb_magicnum", 0, 4, "sb_blocksize", 4, 4, "sb_dblocks", 8, 8, "sb_rblocks", 16, 8,
	"sb_logstart", 48, 8, "sb_rootino", 56, 8, "sb_rbmino", 64, 8, "sb_rsumino", 72, 8,
	"sb_rextsize", 80, 4, "sb_agblocks", 84, 4, "sb_agcount", 88, 4, "sb_logblocks", 96, 4,
	"sb_versionnum", 100, 2, "sb_sectsize", 102, 2, "sb_inodesize", 104, 2, "sb_inopblock", 106, 2,
	"sb_blocklog", 120, 1, "sb_sectlog", 121, 1, "sb_inodelog", 122, 1, "sb_inopblog", 123, 1,
	"sb_agblklog", 124, 1, "sb_inprogress", 126, 1, "sb_imax_pct", 127, 1, "sb_icount", 128, 8,
	"sb_ifree", 136, 8, "sb_fdblocks", 144, 8, "sb_qflags", 176, 2, "sb_inoalignmt", 180, 4,
	"sb_dirblklog", 192, 1, "sb_logsectlog", 193, 1, "sb_logsunit", 196, 4, "sb_features2", 200, 4,
	"sb_features_compat", 208, 4, "sb_features_ro_compat", 212, 4, "sb_features_incompat", 216, 4,
	"sb_features_log_incompat", 220, 4, "sb_spino_align", 228, 4)

var xfsAGFFields = fields(true,
	"agf_magicnum", 0, 4, "agf_versionnum", 4, 4, "agf_seqno", 8, 4, "agf_length", 12, 4,
	"agf_bno_root", 16, 4, "agf_cnt_root", 20, 4, "agf_bno_level", 28, 4, "agf_cnt_level", 32, 4,
	"agf_flfirst", 40, 4, "agf_fllast", 44, 4, "agf_flcount", 48, 4, "agf_freeblks", 52, 4,
	"agf_longest", 56, 4, "agf_btreeblks", 60, 4)

var xfsAGIFields = fields(true,
	"agi_magicnum", 0, 4, "agi_versionnum", 4, 4, "agi_seqno", 8, 4, "agi_length", 12, 4,
	"agi_count", 16, 4, "agi_root", 20, 4, "agi_level", 24, 4, "agi_freecount", 28, 4,
	"agi_newino", 32, 4, "agi_dirino", 36, 4, "agi_unlinked0", 40, 4, "agi_free_root", 328, 4,
	"agi_free_level", 332, 4)

var xfsInodeFields = fields(true,
	"di_magic", 0, 2, "di_mode", 2, 2, "di_version", 4, 1, "di_format", 5, 1, "di_onlink", 6, 2,
	"di_nlink", 16, 4, "di_size", 56, 8, "di_nblocks", 64, 8, "di_extsize", 72, 4,
	"di_nextents", 76, 4, "di_anextents", 80, 2, "di_forkoff", 82, 1, "di_aformat", 83, 1,
	"di_flags", 90, 2, "di_next_unlinked", 96, 4, "di_flags2", 120, 8, "di_ino", 152, 8,
	// The data fork of a v3 inode: a short-form directory's header and
	// first entry, or the first extent record.
	"fork0", 176, 1, "fork1", 177, 1, "fork2", 178, 4, "fork6", 182, 2, "fork8", 184, 8, "fork16", 192, 8)

func (l *locator) xfs() error {
	sb := l.read(0, 512)
	if sb == nil || string(sb[:4]) != "XFSB" {
		return ErrUnsupported
	}
	bs := uint64(be.Uint32(sb[4:]))
	sect := int(be.Uint16(sb[102:]))
	if sect < 512 || sect > 32768 || sect&(sect-1) != 0 {
		sect = 512
	}
	v5 := be.Uint16(sb[100:])&0xF == 5
	hdr := func(kind string, off int64, fs []Field, csumAt int) {
		r := Region{Kind: kind, Off: off, Len: sect, Fields: fs}
		if v5 {
			r.csum, r.csumAt = csumZeroed, csumAt
		}
		l.add(r)
	}
	agblocks, agcount := uint64(be.Uint32(sb[84:])), uint64(be.Uint32(sb[88:]))
	if bs < 512 || bs > 65536 || agblocks == 0 {
		hdr("xfs-sb", 0, xfsSBFields, 224)
		return nil
	}
	for ag := range min(agcount, maxGroups) {
		base := mulOff(ag*agblocks, bs)
		if base < 0 {
			break
		}
		hdr("xfs-sb", base, xfsSBFields, 224)
		hdr("xfs-agf", base+int64(sect), xfsAGFFields, 216)
		hdr("xfs-agi", base+2*int64(sect), xfsAGIFields, 312)
	}
	isz := uint64(be.Uint16(sb[104:]))
	inopblog, agblklog := uint(sb[123]), uint(sb[124])
	if isz < 256 || isz > 2048 || inopblog > 8 || agblklog > 32 {
		return nil
	}
	// The root directory's inode and the ones after it in its chunk
	// (mkfs puts the realtime inodes and the prototype's files there).
	root := be.Uint64(sb[56:])
	agno := root >> (agblklog + inopblog)
	agbno := (root >> inopblog) & (1<<agblklog - 1)
	first := mulOff(agno*agblocks+agbno, bs)
	if first < 0 {
		return nil
	}
	first += int64((root & (1<<inopblog - 1)) * isz)
	for i := range int64(maxInodes) {
		off := first + i*int64(isz)
		in := l.read(off, int(isz))
		if in == nil || string(in[:2]) != "IN" {
			continue
		}
		r := Region{Kind: "xfs-inode", Off: off, Len: int(isz), Fields: xfsInodeFields}
		if in[4] == 3 {
			r.csum, r.csumAt = csumZeroed, 100
		}
		l.add(r)
	}
	return nil
}
