// Package unet provides net.Conn, net.Listener and net.PacketConn on any kernel.
//
// It sits on eloop, aio, libgo and sys (never ufs), and is used by programs and cmd/demo. It
// imports nothing above it. It is planned in issue 6 and not built yet:
// today the package holds only this comment, so that the layout and the
// layer check in layers_test.go stand from the start.
package unet
