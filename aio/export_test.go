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

// SQFlags returns the flags the kernel sets in r's submission ring.
func SQFlags(r *Ring) uint32 { return *r.sqFlags }

// SQCQOverflow is IORING_SQ_CQ_OVERFLOW.
const SQCQOverflow = sqCQOverflow
