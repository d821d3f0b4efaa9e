// Package aio provides epoll readiness for non-blocking fds.
//
// It sits on libgo and sys, and is used by eloop, unet, ufs. It
// imports nothing above it. It is planned in issue 5 and not built yet:
// today the package holds only this comment, so that the layout and the
// layer check in layers_test.go stand from the start.
package aio
