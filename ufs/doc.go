// Package ufs provides io/fs.FS and a writable file system on any kernel.
//
// It sits on eloop, aio, libgo and sys (never unet), and is used by programs and cmd/demo. It
// imports nothing above it. It is planned in issue 7 and not built yet:
// today the package holds only this comment, so that the layout and the
// layer check in layers_test.go stand from the start.
package ufs
