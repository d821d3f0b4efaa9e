package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A FormatError says which part of an image is malformed or unsupported.
type FormatError struct {
	Field string // the header field, table or extension that is wrong
	Err   error
}

func (e *FormatError) Error() string { return "qcow2: " + e.Field + ": " + e.Err.Error() }

func (e *FormatError) Unwrap() error { return e.Err }

func bad(field, format string, args ...any) error {
	return &FormatError{Field: field, Err: fmt.Errorf(format, args...)}
}

func unsupported(field, what string) error {
	return &FormatError{Field: field, Err: fmt.Errorf("%s: %w", what, errors.ErrUnsupported)}
}

// Magic is the first four bytes of every qcow2 image.
const Magic = "QFI\xfb"

// Limits of the format, as qemu sets them.
const (
	minClusterBits = 9
	maxClusterBits = 21
	maxL1Bytes     = 32 << 20 // qemu's QCOW_MAX_L1_SIZE
	maxBackingName = 1023
	maxSize        = 1 << 61 // no offset computed from a size overflows
	v2HeaderLen    = 72
	v3HeaderLen    = 104
)

// Incompatible feature bits (qcow2.txt, header bytes 72-79).
const (
	incompatDirty = 1 << iota
	incompatCorrupt
	incompatExternalData
	incompatCompressionType
	incompatExtendedL2
)

// Header extension types.
const (
	extEnd            = 0
	extBackingFormat  = 0xe2792aca
	extExternalData   = 0x44415441
	extFeatureNames   = 0x6803f857
	extFullDiskCrypto = 0x0537be77
)

// offsetMask picks a host offset out of an L1 or L2 entry (bits 9-55).
const offsetMask = 0x00fffffffffffe00

// header is what Image needs of an image's header.
type header struct {
	version       int
	clusterBits   uint
	size          int64
	l1Size        int64
	l1Offset      int64
	backingName   string
	backingFormat string
}

// parseHeader reads and checks the header of an image of fileSize bytes.
func parseHeader(r io.ReaderAt, fileSize int64) (*header, error) {
	var b [v3HeaderLen + 8]byte
	n, err := r.ReadAt(b[:min(int64(len(b)), fileSize)], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if n < v2HeaderLen {
		return nil, bad("header", "%d bytes, shorter than a qcow2 header (%d)", fileSize, v2HeaderLen)
	}
	be := binary.BigEndian
	if string(b[:4]) != Magic {
		return nil, bad("magic", "%q is not %q: not a qcow2 image", b[:4], Magic)
	}
	h := &header{version: int(be.Uint32(b[4:]))}
	if h.version != 2 && h.version != 3 {
		return nil, unsupported("version", fmt.Sprintf("version %d (this reader knows 2 and 3)", h.version))
	}
	cb := be.Uint32(b[20:])
	if cb < minClusterBits || cb > maxClusterBits {
		return nil, bad("cluster_bits", "%d is outside %d..%d", cb, minClusterBits, maxClusterBits)
	}
	h.clusterBits = uint(cb)
	cs := int64(1) << cb
	if fileSize < cs {
		// The header, the L1 table and the refcounts are each in a cluster
		// of their own: a real image is several clusters long. This check
		// keeps a tiny file from making the reader allocate clusters.
		return nil, bad("cluster_bits", "clusters of %d bytes in a %d-byte file", cs, fileSize)
	}
	if size := be.Uint64(b[24:]); size > maxSize {
		return nil, bad("size", "%d bytes is more than %d", size, int64(maxSize))
	} else {
		h.size = int64(size)
	}
	if m := be.Uint32(b[32:]); m != 0 {
		return nil, unsupported("crypt_method", fmt.Sprintf("encrypted image (method %d)", m))
	}

	hdrLen := int64(v2HeaderLen)
	if h.version == 3 {
		if n < v3HeaderLen {
			return nil, bad("header", "%d bytes, shorter than a version 3 header (%d)", fileSize, v3HeaderLen)
		}
		hdrLen = int64(be.Uint32(b[100:]))
		if hdrLen < v3HeaderLen || hdrLen%8 != 0 || hdrLen > cs {
			return nil, bad("header_length", "%d is not a multiple of 8 from %d to the cluster size %d", hdrLen, v3HeaderLen, cs)
		}
		if ro := be.Uint32(b[96:]); ro > 6 {
			return nil, bad("refcount_order", "%d is more than 6", ro)
		}
		incompat := be.Uint64(b[72:])
		if incompat&incompatCorrupt != 0 {
			return nil, bad("incompatible_features", "the image is marked corrupt (qemu-img check -r all repairs it)")
		}
		if incompat&incompatExternalData != 0 {
			return nil, unsupported("incompatible_features", "an external data file")
		}
		if incompat&incompatExtendedL2 != 0 {
			return nil, unsupported("incompatible_features", "extended L2 entries (subclusters)")
		}
		var ctype byte
		if hdrLen > v3HeaderLen && n > v3HeaderLen {
			ctype = b[v3HeaderLen]
		}
		if ctype != 0 {
			if incompat&incompatCompressionType == 0 {
				return nil, bad("compression_type", "%d without the compression type feature bit", ctype)
			}
			name := fmt.Sprintf("compression type %d", ctype)
			if ctype == 1 {
				name = "zstd compression"
			}
			return nil, unsupported("compression_type", name)
		}
		known := uint64(incompatDirty | incompatCompressionType)
		if unknown := incompat &^ known; unknown != 0 {
			return nil, unsupported("incompatible_features", fmt.Sprintf("unknown incompatible features %#x", unknown))
		}
	}

	// L1 table: must cover the disk and lie inside the file.
	h.l1Size = int64(be.Uint32(b[36:]))
	h.l1Offset = int64(be.Uint64(b[40:]) & (1<<63 - 1))
	perL2 := cs / 8 * cs // bytes of disk one L2 table maps
	need := (h.size + perL2 - 1) / perL2
	if h.l1Size < need {
		return nil, bad("l1_size", "%d entries map less than the disk's %d bytes (%d needed)", h.l1Size, h.size, need)
	}
	if h.l1Size*8 > maxL1Bytes {
		return nil, bad("l1_size", "%d entries is more than qemu's %d-byte limit", h.l1Size, maxL1Bytes)
	}
	if h.l1Offset%cs != 0 || h.l1Offset > fileSize || h.l1Size*8 > fileSize-h.l1Offset {
		return nil, bad("l1_table_offset", "%d entries at %d are not a cluster-aligned table inside the %d-byte file", h.l1Size, h.l1Offset, fileSize)
	}

	// Backing file name.
	boff, blen := int64(be.Uint64(b[8:])&(1<<63-1)), int64(be.Uint32(b[16:]))
	if boff != 0 {
		if blen == 0 || blen > maxBackingName {
			return nil, bad("backing_file_size", "%d is not a length from 1 to %d", blen, maxBackingName)
		}
		if boff > fileSize || blen > fileSize-boff {
			return nil, bad("backing_file_offset", "%d bytes at %d are outside the %d-byte file", blen, boff, fileSize)
		}
		name := make([]byte, blen)
		if _, err := r.ReadAt(name, boff); err != nil {
			return nil, fmt.Errorf("qcow2: reading the backing file name: %w", err)
		}
		h.backingName = string(name)
	}
	if err := h.readExtensions(r, hdrLen, min(cs, fileSize)); err != nil {
		return nil, err
	}
	return h, nil
}

// readExtensions reads the header extensions from hdrLen to the end of the
// first cluster (or of the file, if shorter).
func (h *header) readExtensions(r io.ReaderAt, hdrLen, end int64) error {
	be := binary.BigEndian
	var eh [8]byte
	for off, i := hdrLen, 0; off+8 <= end; i++ {
		if _, err := r.ReadAt(eh[:], off); err != nil {
			return fmt.Errorf("qcow2: reading header extension %d: %w", i, err)
		}
		typ, n := be.Uint32(eh[:]), int64(be.Uint32(eh[4:]))
		field := fmt.Sprintf("header extension %d (type %#x)", i, typ)
		off += 8
		if typ == extEnd {
			return nil
		}
		if n > end-off {
			return bad(field, "%d bytes at %d run past the first cluster", n, off)
		}
		switch typ {
		case extBackingFormat:
			if n > 16 {
				return bad(field, "backing format name of %d bytes", n)
			}
			name := make([]byte, n)
			if _, err := r.ReadAt(name, off); err != nil {
				return fmt.Errorf("qcow2: reading %s: %w", field, err)
			}
			h.backingFormat = string(name)
		case extFullDiskCrypto:
			return unsupported(field, "a full disk encryption header")
		}
		off += (n + 7) &^ 7
	}
	return nil
}
