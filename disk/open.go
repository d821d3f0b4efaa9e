package disk

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/gokernel/gokernel/disk/qcow2"
)

// A Spec names a disk the way a configuration does (GOKERNEL_CONFIG's
// disks): where it is, its format, and whether writes go to an overlay.
// Its JSON keys are the ones errors name.
type Spec struct {
	// Path is the image: a file or block device on the host, or a URL
	// (scheme://…) opened by the Source registered for its scheme.
	Path string `json:"path"`
	// Format is "raw" or "qcow2"; "" detects it from the image's first
	// bytes. qcow2 images are read-only unless overlaid.
	Format string `json:"format,omitempty"`
	// Overlay is "" for none (writes go to the image), "memory" for a
	// copy-on-write overlay in memory, or the path of a sidecar file that
	// keeps the overlay's writes (see OpenOverlay). With an overlay the
	// image is opened read-only and never written.
	Overlay string `json:"overlay,omitempty"`
	// ReadOnly refuses writes: the image is opened read-only, and so is
	// the overlay if there is one (its earlier writes are still seen).
	ReadOnly bool `json:"readonly,omitempty"`
	// Sources open URL paths, by scheme ("http", "https", "nbd",
	// "nbd+unix"): packages disk/httpdisk and disk/nbd provide them, and
	// the program that links them in fills this map. Open knows no scheme
	// by itself, so that disk does not depend on its network clients.
	Sources map[string]Source `json:"-"`
}

// A Source opens the device a URL names. readOnly asks for a device that
// is never written (an overlay will be put over it, or the disk is
// read-only).
type Source func(u *url.URL, readOnly bool) (Device, error)

// formats are the values of Spec.Format, "" aside.
var formats = []string{"raw", "qcow2"}

// Open opens the disk s names, building the chain source (file or URL) →
// format (raw or qcow2) → overlay. Every bad value of s is an error naming
// its key. The Device is an io.Closer, whose Close closes the whole chain;
// a raw file without overlay is a *File, so its descriptor is at hand.
func Open(s Spec) (Device, error) {
	if s.Path == "" {
		return nil, errors.New("path: empty: name an image file, block device or URL")
	}
	if s.Format != "" && !slices.Contains(formats, s.Format) {
		return nil, fmt.Errorf("format: %q is not a format gokernel reads (%s)", s.Format, strings.Join(formats, ", "))
	}
	if s.Overlay != "" && s.Overlay == s.Path {
		return nil, fmt.Errorf("overlay: %q is the image itself; name another file for the sidecar", s.Overlay)
	}
	// The image is written only when nothing is put over it.
	baseRO := s.ReadOnly || s.Overlay != ""
	if s.Format == "qcow2" && !baseRO {
		return nil, errQCOW2Writable
	}

	// Source.
	var src Device
	var file *File
	if u, ok := isURL(s.Path); ok {
		open := s.Sources[u.Scheme]
		if open == nil {
			return nil, fmt.Errorf("path: %q: no source for %s:// URLs in this program (disk/httpdisk and disk/nbd provide them; known: %s)", s.Path, u.Scheme, strings.Join(slices.Sorted(maps.Keys(s.Sources)), ", "))
		}
		d, err := open(u, baseRO)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		src = d
	} else {
		f, err := OpenFile(s.Path, baseRO)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		src, file = f, f
	}

	// Format.
	dev, err := openFormat(s, src, file, baseRO)
	if err != nil {
		closeDevice(src)
		return nil, err
	}

	// Overlay.
	switch s.Overlay {
	case "":
		return dev, nil
	case "memory":
		ov := NewOverlay(dev)
		ov.readOnly, ov.under = s.ReadOnly, closerOf(dev)
		return ov, nil
	default:
		ov, err := OpenOverlay(dev, s.Overlay)
		if err != nil {
			closeDevice(dev)
			return nil, fmt.Errorf("overlay: %w", err)
		}
		ov.readOnly, ov.under = s.ReadOnly, closerOf(dev)
		return ov, nil
	}
}

var errQCOW2Writable = errors.New("format: qcow2 images are read-only here: set readonly, or an overlay to write through")

// openFormat puts the format driver s names (or the one src's first bytes
// show) over src.
func openFormat(s Spec, src Device, file *File, baseRO bool) (Device, error) {
	format := s.Format
	if format == "" {
		var magic [4]byte
		if n, err := src.ReadAt(magic[:], 0); n < len(magic) && err != nil && err != io.EOF {
			return nil, fmt.Errorf("format: detecting it: %w", err)
		}
		format = "raw"
		if string(magic[:]) == qcow2.Magic {
			format = "qcow2"
		}
	}
	if format == "raw" {
		return src, nil
	}
	if !baseRO {
		return nil, errQCOW2Writable
	}
	var img *qcow2.Image
	var err error
	if file != nil {
		// By path, so that backing files are found beside the image.
		img, err = qcow2.Open(s.Path, nil)
		if err == nil {
			file.Close()
		}
	} else {
		img, err = qcow2.New(src, src.Size(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	d := &imageDevice{img: img}
	if file == nil {
		d.src = src
	}
	return d, nil
}

// imageDevice is the read-only Device of a qcow2 image.
type imageDevice struct {
	img *qcow2.Image
	src Device // the URL source under it, if any (else the image is in host files)
}

func (d *imageDevice) ReadAt(p []byte, off int64) (int, error) { return d.img.ReadAt(p, off) }
func (d *imageDevice) ReadvAt(bufs [][]byte, off int64) (int, error) {
	return d.img.ReadvAt(bufs, off)
}
func (d *imageDevice) WriteAt(p []byte, off int64) (int, error) {
	return 0, fmt.Errorf("disk: qcow2 write at %d: %w", off, ErrReadOnly)
}
func (d *imageDevice) Size() int64    { return d.img.Size() }
func (d *imageDevice) Flush() error   { return nil }
func (d *imageDevice) ReadOnly() bool { return true }

// Local reports whether the image is in host files, or on a local source.
func (d *imageDevice) Local() bool { return d.src == nil || IsLocal(d.src) }

func (d *imageDevice) Close() error {
	err := d.img.Close()
	if c := closerOf(d.src); c != nil {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// isURL reports whether path is a URL (scheme://…) rather than a file.
func isURL(path string) (*url.URL, bool) {
	if !strings.Contains(path, "://") {
		return nil, false
	}
	u, err := url.Parse(path)
	if err != nil || u.Scheme == "" {
		return nil, false
	}
	return u, true
}

func closerOf(d Device) io.Closer {
	c, _ := d.(io.Closer)
	return c
}

func closeDevice(d Device) {
	if c := closerOf(d); c != nil {
		c.Close()
	}
}
