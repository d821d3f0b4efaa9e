// Package remote opens disks that live behind a URL: it gives disk.Open the
// sources of packages disk/httpdisk (http://, https://) and disk/nbd
// (nbd://, nbd+unix://).
//
// It is the one place a program links the network clients into disk.Open:
// package disk knows no URL scheme by itself, so that a program that opens
// only files does not carry an HTTP or NBD client. sys/lkl uses it for the
// disks of a configuration; it imports nothing of gokernel's stack.
package remote

import (
	"context"
	"net/url"
	"time"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/httpdisk"
	"github.com/gokernel/gokernel/disk/nbd"
)

// OpenTimeout bounds how long opening a remote disk may take: the first
// HTTP request, or the NBD connection and handshake (with their retries).
const OpenTimeout = 30 * time.Second

// Sources returns the URL sources for disk.Spec.Sources: http and https
// (read-only, over Range requests) and nbd and nbd+unix (read-only when
// readOnly is asked for or the server says so).
func Sources() map[string]disk.Source {
	openHTTP := func(u *url.URL, readOnly bool) (disk.Device, error) {
		ctx, cancel := context.WithTimeout(context.Background(), OpenTimeout)
		defer cancel()
		return httpdisk.Open(ctx, u.String(), httpdisk.Options{})
	}
	openNBD := func(u *url.URL, readOnly bool) (disk.Device, error) {
		ctx, cancel := context.WithTimeout(context.Background(), OpenTimeout)
		defer cancel()
		return nbd.Dial(ctx, u.String(), nbd.Options{ReadOnly: readOnly})
	}
	return map[string]disk.Source{
		"http": openHTTP, "https": openHTTP,
		"nbd": openNBD, "nbd+unix": openNBD,
	}
}
