// Package eloop provides an event loop.
//
// It sits on  fd readiness callbacks, timers and a worker pool, and is used by aio, libgo and sys. It
// imports nothing above it. It is planned in issue unet, ufs and cmd/demo:5 and not built yet:
// today the package holds only this comment, so that the layout and the
// layer check in layers_test.go stand from the start.
package eloop
