package eloop

import "github.com/gokernel/gokernel/aio"

// Dispatch delivers an event with token as if the poller had reported
// it; call it on the loop goroutine.
func (l *Loop) Dispatch(token uint64, ev aio.Events) { l.dispatch(token, ev) }
