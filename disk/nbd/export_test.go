package nbd

import (
	"io"
)

// Negotiate runs the client's side of the handshake on rw, for fuzzing.
func Negotiate(rw io.ReadWriter, name string) (size int64, flags uint16, err error) {
	exp, err := negotiate(rw, name)
	return exp.size, exp.flags, err
}

// ReadReplies feeds r to the reply reader of a device that has reads of
// the given lengths in flight under handles 1, 2, …; it returns the error
// each read's outcome and the error that stopped the reader (nil for a read still
// pending when it stopped).
func ReadReplies(r io.Reader, reads []uint32) ([]error, error) {
	d := &Device{slots: make(chan struct{}, len(reads)), pending: make(map[uint64]*call)}
	calls := make([]*call, len(reads))
	for i, n := range reads {
		calls[i] = &call{cmd: cmdRead, n: n, buf: make([]byte, n), done: make(chan error, 1)}
		d.slots <- struct{}{}
		d.inflight.Add(1)
		d.pending[uint64(i+1)] = calls[i]
	}
	err := d.readReplies(r)
	outcomes := make([]error, len(reads))
	for i, c := range calls {
		select {
		case outcomes[i] = <-c.done:
		default:
		}
	}
	return outcomes, err
}
