package fsprobe

import "fmt"

// FAT12/16/32, exFAT and NTFS: a boot sector at 0 (Microsoft's FAT and
// exFAT specifications; NTFS's BPB as blkid reads it).

// fat recognises a FAT boot sector by a sane BIOS parameter block and
// tells FAT12, 16 and 32 apart by cluster count, as the specification
// does.
func (p *prober) fat() (*Result, error) {
	b := p.at(0, 512)
	if b == nil || b[510] != 0x55 || b[511] != 0xAA {
		return nil, nil
	}
	bps := uint64(le.Uint16(b[11:]))
	spc := uint64(b[13])
	reserved := uint64(le.Uint16(b[14:]))
	nfats := uint64(b[16])
	rootEnts := uint64(le.Uint16(b[17:]))
	media := b[21]
	if bps < 512 || bps > 4096 || !isPow2(bps) || !isPow2(spc) || reserved == 0 ||
		nfats == 0 || nfats > 4 || media != 0xF0 && media < 0xF8 {
		return nil, nil
	}
	total := uint64(le.Uint16(b[19:]))
	if total == 0 {
		total = uint64(le.Uint32(b[32:]))
	}
	fatSize := uint64(le.Uint16(b[22:]))
	fat32 := fatSize == 0
	if fat32 {
		fatSize = uint64(le.Uint32(b[36:]))
	}
	rootSecs := (rootEnts*32 + bps - 1) / bps
	meta := reserved + nfats*fatSize + rootSecs
	if fatSize == 0 || total <= meta {
		return nil, nil
	}
	clusters := (total - meta) / spc
	r := &Result{Type: "vfat", Usage: UsageFilesystem, Size: mul(total, bps), BlockSize: int(bps * spc)}
	ext := 36 // FAT12/16's extended boot record
	switch {
	case clusters < 4085:
		r.Version = "FAT12"
	case clusters < 65525:
		r.Version = "FAT16"
	default:
		r.Version = "FAT32"
		ext = 64
	}
	if fat32 != (r.Version == "FAT32") {
		return nil, nil // the BPB's own layout and its cluster count disagree
	}
	if b[ext+2] == 0x29 { // extended boot signature: serial and label follow
		id := le.Uint32(b[ext+3:])
		r.UUID = fmt.Sprintf("%04X-%04X", id>>16, id&0xffff)
		if l := cstr(b[ext+7 : ext+18]); l != "NO NAME" {
			r.Label = l
		}
	}
	// The root directory's volume label entry, which blkid prefers.
	var off int64
	var n uint64
	if fat32 {
		root := uint64(le.Uint32(b[44:]))
		if root < 2 {
			return r, nil
		}
		off = mul(reserved+nfats*fatSize+(root-2)*spc, bps)
		n = spc * bps
	} else {
		off, n = mul(reserved+nfats*fatSize, bps), rootEnts*32
	}
	dir, err := p.read(off, int(min(n, maxExtra)))
	if err != nil {
		return nil, err
	}
	if l, ok := fatDirLabel(dir); ok {
		r.Label = l
	}
	return r, nil
}

// fatDirLabel finds the volume label entry of a FAT directory.
func fatDirLabel(dir []byte) (string, bool) {
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		switch {
		case e[0] == 0:
			return "", false // end of directory
		case e[0] == 0xE5 || e[11]&0x0F == 0x0F: // deleted, long name
			continue
		case e[11]&0x08 != 0:
			return cstr(e[:11]), true
		}
	}
	return "", false
}

func (p *prober) exfat() (*Result, error) {
	b := p.at(0, 512)
	if b == nil || string(b[3:11]) != "EXFAT   " {
		return nil, nil
	}
	bpsShift, spcShift := b[108], b[109]
	if bpsShift < 9 || bpsShift > 12 || int(bpsShift)+int(spcShift) > 25 {
		return nil, nil
	}
	bps := uint64(1) << bpsShift
	id := le.Uint32(b[100:])
	r := &Result{
		Type:      "exfat",
		Usage:     UsageFilesystem,
		Version:   fmt.Sprintf("%d.%d", b[105], b[104]),
		UUID:      fmt.Sprintf("%04X-%04X", id>>16, id&0xffff),
		Size:      mul(le.Uint64(b[72:]), bps),
		BlockSize: int(bps << spcShift),
	}
	heap, root := uint64(le.Uint32(b[88:])), uint64(le.Uint32(b[96:]))
	if root < 2 {
		return r, nil
	}
	dir, err := p.read(mul(heap+(root-2)<<spcShift, bps), int(min(bps<<spcShift, maxExtra)))
	if err != nil {
		return nil, err
	}
	for i := 0; i+32 <= len(dir); i += 32 {
		e := dir[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0x83 { // volume label entry
			n := min(int(e[1]), 11)
			r.Label = utf16le(e[2 : 2+2*n])
			break
		}
	}
	return r, nil
}

func (p *prober) ntfs() (*Result, error) {
	b := p.at(0, 512)
	if b == nil || string(b[3:11]) != "NTFS    " {
		return nil, nil
	}
	bps := uint64(le.Uint16(b[11:]))
	spc := uint64(b[13])
	if spc > 0x80 { // a negative power of two
		spc = 1 << (256 - spc)
	}
	if bps < 256 || bps > 4096 || !isPow2(bps) || !isPow2(spc) {
		return nil, nil
	}
	return &Result{
		Type:      "ntfs",
		Usage:     UsageFilesystem,
		UUID:      fmt.Sprintf("%016X", le.Uint64(b[72:])),
		Size:      mul(le.Uint64(b[40:]), bps),
		BlockSize: int(min(bps*spc, 1<<21)),
	}, nil
}
