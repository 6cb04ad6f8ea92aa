// Package giveway holds bulk work back while the kill switch makes its calls.
//
// A lock, or a termination due now, goes to the same Temporal server as a
// batch's starts and a policy rollout's re-evaluations, and on the embedded
// server every call waits its turn on one SQLite connection: a lock sent
// while a 10,000-person batch was being handed over waited behind the starts.
// So while a kill-switch call is under way, and for For after it, the bulk
// hands over no more. Work already handed over is not held back.
//
// A Way is per process: the API's locks hold back its batches and imports,
// and a worker's disables for a lock or a leaver hold back the rollouts it
// hands over (in `tenure dev`, one process, each holds back both).
package giveway

import (
	"context"
	"sync"
	"time"
)

// For is how long the bulk stays held back after a kill-switch call ends:
// the person's workflow task is queued by then, and is handed to a worker
// through the same server queues as the bulk's work.
const For = 250 * time.Millisecond

// Way is where the kill switch and the bulk meet. The nil Way holds nothing
// back.
type Way struct {
	mu sync.Mutex
	// urgent counts kill-switch calls under way; until is when the last one
	// to end stops holding the bulk back.
	urgent int
	until  time.Time
	// clear is closed when urgent falls to 0.
	clear chan struct{}
	now   func() time.Time
}

// New returns a Way that tells the time with now.
func New(now func() time.Time) *Way { return &Way{now: now} }

// Urgent marks a kill-switch call under way until done is called.
func (w *Way) Urgent() (done func()) {
	if w == nil {
		return func() {}
	}
	w.mu.Lock()
	w.urgent++
	if w.clear == nil {
		w.clear = make(chan struct{})
	}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.urgent--
		w.until = w.now().Add(For)
		if w.urgent == 0 {
			close(w.clear)
			w.clear = nil
		}
	}
}

// Busy reports whether a kill-switch call is under way.
func (w *Way) Busy() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.urgent > 0
}

// Wait returns once no kill-switch call holds the bulk back, or with ctx's
// error.
func (w *Way) Wait(ctx context.Context) error {
	if w == nil {
		return nil
	}
	for {
		w.mu.Lock()
		clear, rest := w.clear, w.until.Sub(w.now())
		w.mu.Unlock()
		switch {
		case clear != nil:
			select {
			case <-clear:
			case <-ctx.Done():
				return ctx.Err()
			}
		case rest > 0:
			t := time.NewTimer(rest)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		default:
			return nil
		}
	}
}
