//go:build lkl

package lkl

import (
	"errors"
	"fmt"
	"io"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/remote"
	"github.com/gokernel/gokernel/disk/volume"
)

// openVolume opens the images of d (Path, then Images) with disk.Open,
// finds the volume d.Volume names on them (package disk/volume: LVM LVs
// and MD arrays, on whole images or their partitions) and puts d.Overlay
// over it. The images are opened read-only when d is read-only or
// overlaid. The device is served from Go (an LV is no host file); its
// Close closes the overlay and the images.
func openVolume(d Disk) (disk.Device, error) {
	ro := d.ReadOnly || d.Overlay != ""
	var devs []disk.Device
	closeAll := func() error {
		var errs []error
		for _, dev := range devs {
			if c, ok := dev.(io.Closer); ok {
				errs = append(errs, c.Close())
			}
		}
		return errors.Join(errs...)
	}
	for i, p := range append([]string{d.Path}, d.Images...) {
		dev, err := disk.Open(disk.Spec{Path: p, Format: d.Format, ReadOnly: ro, Sources: remote.Sources()})
		if err != nil {
			closeAll()
			if i > 0 {
				return nil, &ConfigError{Key: fmt.Sprintf("images[%d]", i-1), Value: p, Err: err}
			}
			return nil, err
		}
		devs = append(devs, dev)
	}
	v, err := volume.Open(devs, d.Volume)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("%s: %w", d.Path, err)
	}
	vd := &volumeDevice{Device: v, close: closeAll}
	switch d.Overlay {
	case "":
	case "memory":
		ov := disk.NewOverlay(v)
		vd.Device, vd.close = ov, func() error { return errors.Join(ov.Close(), closeAll()) }
	default:
		ov, err := disk.OpenOverlay(v, d.Overlay)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("overlay: %w", err)
		}
		vd.Device, vd.close = ov, func() error { return errors.Join(ov.Close(), closeAll()) }
	}
	return vd, nil
}

// volumeDevice is a volume on images opened here, which Close closes.
type volumeDevice struct {
	disk.Device
	close func() error
}

// Under returns the volume (disk.Stacked): the device is read-only and
// local as the volume is.
func (v *volumeDevice) Under() []disk.Device { return []disk.Device{v.Device} }
func (v *volumeDevice) Close() error         { return v.close() }
