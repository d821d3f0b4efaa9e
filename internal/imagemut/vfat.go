package imagemut

// vfat (Microsoft's FAT specification): the boot sector, the FATs, the
// root directory and the first subdirectories' clusters.

var vfatBootFields = fields(false,
	"BS_jmpBoot", 0, 1, "BPB_BytsPerSec", 11, 2, "BPB_SecPerClus", 13, 1, "BPB_RsvdSecCnt", 14, 2,
	"BPB_NumFATs", 16, 1, "BPB_RootEntCnt", 17, 2, "BPB_TotSec16", 19, 2, "BPB_Media", 21, 1,
	"BPB_FATSz16", 22, 2, "BPB_HiddSec", 28, 4, "BPB_TotSec32", 32, 4, "BPB_FATSz32", 36, 4,
	"BPB_ExtFlags", 40, 2, "BPB_FSVer", 42, 2, "BPB_RootClus", 44, 4, "BPB_FSInfo", 48, 2,
	"BPB_BkBootSec", 50, 2, "signature", 510, 2)

// vfatDirFields are the fields of a directory block's first entries.
func vfatDirFields(n int) []Field {
	var fs []Field
	for i := range min(n/32, maxEntries) {
		e := 32 * i
		fs = append(fs, fields(false, "DIR_Name0", e, 1, "DIR_Attr", e+11, 1, "DIR_FstClusHI", e+20, 2,
			"DIR_FstClusLO", e+26, 2, "DIR_FileSize", e+28, 4, "LDIR_Ord", e, 1, "LDIR_Chksum", e+13, 1)...)
	}
	return fs
}

func (l *locator) vfat() error {
	bsec := l.read(0, 512)
	if bsec == nil {
		return ErrUnsupported
	}
	l.add(Region{Kind: "vfat-boot", Off: 0, Len: 512, Fields: vfatBootFields})
	bps := uint64(le.Uint16(bsec[11:]))
	spc := uint64(bsec[13])
	rsvd := uint64(le.Uint16(bsec[14:]))
	nfats := uint64(bsec[16])
	rootEnt := uint64(le.Uint16(bsec[17:]))
	fatSz := uint64(le.Uint16(bsec[22:]))
	if fatSz == 0 {
		fatSz = uint64(le.Uint32(bsec[36:]))
	}
	if bps < 512 || bps > 4096 || spc == 0 || nfats == 0 || nfats > 4 || fatSz == 0 || fatSz > 1<<24 {
		return nil
	}
	// The first sectors of each FAT: the entries of the root and the
	// first files.
	fatLen := int(min(fatSz*bps, 8192))
	for i := range nfats {
		off := mulOff(rsvd+i*fatSz, bps)
		l.add(Region{Kind: "vfat-fat", Off: off, Len: fatLen, Fields: fields(false, "FAT0", 0, 4, "FAT2", 4, 4, "FAT3", 8, 4, "FAT4", 12, 4)})
	}
	rootStart := rsvd + nfats*fatSz
	rootSecs := (rootEnt*32 + bps - 1) / bps
	dataStart := rootStart + rootSecs
	clusBytes := spc * bps
	if clusBytes > MaxRegion {
		return nil
	}
	clusterOff := func(c uint64) int64 {
		if c < 2 {
			return -1
		}
		return mulOff(dataStart+(c-2)*spc, bps)
	}
	var dirs []Region
	if rootEnt > 0 {
		n := int(min(rootEnt*32, MaxRegion))
		dirs = append(dirs, Region{Kind: "vfat-dir", Off: mulOff(rootStart, bps), Len: n, Fields: vfatDirFields(n)})
	} else {
		dirs = append(dirs, Region{Kind: "vfat-dir", Off: clusterOff(uint64(le.Uint32(bsec[44:]))), Len: int(clusBytes), Fields: vfatDirFields(int(clusBytes))})
	}
	// Breadth first through the directories, bounded.
	for i := 0; i < len(dirs) && i < maxDirs; i++ {
		d := dirs[i]
		b := l.read(d.Off, d.Len)
		if b == nil || !l.add(d) {
			continue
		}
		for e := 0; e+32 <= len(b) && e < 32*64; e += 32 {
			ent := b[e : e+32]
			if ent[0] == 0 {
				break
			}
			if ent[0] == 0xE5 || ent[0] == '.' || ent[11]&0x0F == 0x0F || ent[11]&0x10 == 0 {
				continue
			}
			c := uint64(le.Uint16(ent[26:])) | uint64(le.Uint16(ent[20:]))<<16
			dirs = append(dirs, Region{Kind: "vfat-dir", Off: clusterOff(c), Len: int(clusBytes), Fields: vfatDirFields(int(clusBytes))})
		}
	}
	return nil
}
