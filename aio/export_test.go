package aio

// Internals the black-box tests check.

var (
	WaitMsec  = waitMsec
	ToLinux   = toLinux
	FromLinux = fromLinux
)

// WakeFD returns the fd of p's wake eventfd.
func WakeFD(p *Poller) int { return p.wakefd }

// WakeSig returns p's wake flag: 1 from a Wake's write until a Wait drains it.
func WakeSig(p *Poller) uint32 { return p.wakeSig.Load() }
