package aio

// Retry is the fd runtime's one try → wait → try again loop, the shape
// of internal/poll's FD.Read: it fails at once if the fd is closing or
// mode's deadline has passed (Prepare), then calls try until try does
// not block, waiting for mode's readiness between tries. A wait ends
// with the fd's Close (its Kind's closed error), mode's deadline
// (os.ErrDeadlineExceeded) or cancel (ErrCanceled; cancel may be nil).
//
// try makes one non-blocking attempt, normally a [Nonblock] call, and
// reports wouldBlock as that call does; a try that made progress but
// must wait for more (a partial write) keeps its progress in its own
// variables and reports wouldBlock. The errno policy lives below: EAGAIN
// is wouldBlock (Nonblock), EINTR is retried by libgo, and so is accept4's
// ECONNABORTED; Retry adds none of its own. Callers hold the FD's read or
// write lock (ReadRetry, WriteRetry).
func (pd *PollDesc) Retry(mode Mode, cancel <-chan struct{}, try func() (wouldBlock bool, err error)) error {
	if err := pd.Prepare(mode); err != nil {
		return err
	}
	return pd.RetryPrepared(mode, cancel, try)
}

// RetryPrepared is Retry without its Prepare, for a caller that made it
// once for a whole transfer of many tries (a splice, whose bytes already
// in its pipe must still be written after the deadline has passed).
func (pd *PollDesc) RetryPrepared(mode Mode, cancel <-chan struct{}, try func() (wouldBlock bool, err error)) error {
	for {
		wouldBlock, err := try()
		if err != nil || !wouldBlock {
			return err
		}
		if err := pd.Wait(mode, cancel); err != nil {
			return err
		}
	}
}

// ReadRetry runs PD.Retry(ModeRead, nil, try) under fd's read lock: the
// whole of a blocking read, accept or receive on a non-blocking fd.
func (fd *FD) ReadRetry(try func() (wouldBlock bool, err error)) error {
	if err := fd.ReadLock(); err != nil {
		return err
	}
	defer fd.ReadUnlock()
	return fd.PD.Retry(ModeRead, nil, try)
}

// WriteRetry runs PD.Retry(ModeWrite, nil, try) under fd's write lock:
// the whole of a blocking write or send on a non-blocking fd.
func (fd *FD) WriteRetry(try func() (wouldBlock bool, err error)) error {
	if err := fd.WriteLock(); err != nil {
		return err
	}
	defer fd.WriteUnlock()
	return fd.PD.Retry(ModeWrite, nil, try)
}
