package fsprobe

import "fmt"

// xfsFeatures are XFS v5's feature bits (fs/xfs/libxfs/xfs_format.h,
// XFS_SB_FEAT_*), named and switched off as mkfs.xfs spells them.
var xfsFeatures = []featureDef{
	{set: SetROCompat, bit: 0x1, name: "finobt", since: "3.16"},
	{set: SetROCompat, bit: 0x2, name: "rmapbt", since: "4.8"},
	{set: SetROCompat, bit: 0x4, name: "reflink", since: "4.9"},
	{set: SetROCompat, bit: 0x8, name: "inobtcount", since: "5.10", opt: "-m", val: "inobtcount=0"},

	{set: SetIncompat, bit: 0x1, name: "ftype", since: "3.10"},
	{set: SetIncompat, bit: 0x2, name: "sparse", since: "4.2"},
	{set: SetIncompat, bit: 0x4, name: "meta_uuid", since: "4.3"},
	{set: SetIncompat, bit: 0x8, name: "bigtime", since: "5.10", opt: "-m", val: "bigtime=0"},
	{set: SetIncompat, bit: 0x10, name: "needsrepair", since: "5.12", hint: "needsrepair is set while xfs_repair has work to finish: run xfs_repair"},
	{set: SetIncompat, bit: 0x20, name: "nrext64", since: "5.19", opt: "-i", val: "nrext64=0"},
	{set: SetIncompat, bit: 0x40, name: "exchange", since: "6.10", opt: "-i", val: "exchange=0"},
	{set: SetIncompat, bit: 0x80, name: "parent", since: "6.10", opt: "-n", val: "parent=0"},
	{set: SetIncompat, bit: 0x100, name: "metadir", since: "6.13", opt: "-m", val: "metadir=0"},

	{set: SetLogIncompat, bit: 0x1, name: "log_xattrs", since: "5.19", hint: "log_xattrs is set while the log holds logged extended attribute updates: mount and unmount it cleanly on Linux 5.19 or later"},
}

// xfsMaxBlock is the largest block Linux 4.9 mounts: a page.
const xfsMaxBlock = 4096

func (p *prober) xfs() (*Result, error) {
	sb := p.at(0, 512)
	if sb == nil || string(sb[:4]) != "XFSB" {
		return nil, nil
	}
	bs := be.Uint32(sb[4:])
	if bs < 512 || bs > 65536 || !isPow2(uint64(bs)) {
		return nil, nil
	}
	ver := be.Uint16(sb[100:]) & 0xf
	r := &Result{
		Type:      "xfs",
		Usage:     UsageFilesystem,
		UUID:      uuid(sb[32:]),
		Label:     cstr(sb[108:120]),
		BlockSize: int(bs),
		Size:      mul(be.Uint64(sb[8:]), uint64(bs)),
	}
	if ver < 4 || ver > 5 {
		r.unmountable = fmt.Sprintf("XFS version %d superblock (Linux %s mounts versions 4 and 5)", ver, Kernel)
		return r, nil
	}
	if bs > xfsMaxBlock {
		r.unmountable = fmt.Sprintf("%d-byte blocks, larger than Linux %s's 4 KiB pages (mkfs.xfs -b size=4096)", bs, Kernel)
	}
	if ver == 5 {
		r.Features = append(r.Features, features(xfsFeatures, SetCompat, uint64(be.Uint32(sb[208:])))...)
		r.Features = append(r.Features, features(xfsFeatures, SetROCompat, uint64(be.Uint32(sb[212:])))...)
		r.Features = append(r.Features, features(xfsFeatures, SetIncompat, uint64(be.Uint32(sb[216:])))...)
		r.Features = append(r.Features, features(xfsFeatures, SetLogIncompat, uint64(be.Uint32(sb[220:])))...)
	}
	return r, nil
}
