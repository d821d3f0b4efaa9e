// Package libgo provides typed libc-like wrappers over sys (files, directories, sockets, epoll, pipes, eventfd, time).
//
// It sits on sys, and is used by aio, eloop, unet, ufs and cmd/demo. It
// imports nothing above it. It is planned in issue 4 and not built yet:
// today the package holds only this comment, so that the layout and the
// layer check in layers_test.go stand from the start.
package libgo
