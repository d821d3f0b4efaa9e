package usernet

import (
	"reflect"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// stopFDs returns the eventfds that fdbased's dispatchers use to stop.
// gVisor (at the pinned version) writes to them on stop but never closes
// them, one fd lost per Network, so teardown closes them after the
// link has stopped. The fields are unexported, hence reflect; reading them
// this way is allowed, and a change of layout yields nil (a leak, which
// the fd-counting tests report) instead of a crash.
func stopFDs(ep stack.LinkEndpoint) []int {
	v := reflect.ValueOf(ep)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	ds := v.Elem().FieldByName("inboundDispatchers")
	if ds.Kind() != reflect.Slice {
		return nil
	}
	var fds []int
	for i := range ds.Len() {
		d := ds.Index(i)
		for d.Kind() == reflect.Interface || d.Kind() == reflect.Pointer {
			d = d.Elem()
		}
		if d.Kind() != reflect.Struct {
			continue
		}
		if sf := d.FieldByName("StopFD"); sf.Kind() == reflect.Struct {
			if efd := sf.FieldByName("EFD"); efd.Kind() == reflect.Int && efd.Int() >= 0 {
				fds = append(fds, int(efd.Int()))
			}
		}
	}
	return fds
}
