package store

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenure-io/tenure"
)

// The writer's gate serves urgent callers before everyone already waiting,
// the rest in the order they came, and forgets a caller who gave up.
func TestGateServesUrgentWorkFirst(t *testing.T) {
	var g gate
	ctx := context.Background()
	if err := g.enter(ctx); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		order []string
		wg    sync.WaitGroup
	)
	queued := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			g.mu.Lock()
			got := len(g.urgent) + len(g.rest)
			g.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d callers waiting, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	enter := func(ctx context.Context, name string) {
		wg.Go(func() {
			if err := g.enter(ctx); err != nil {
				mu.Lock()
				order = append(order, name+" gave up")
				mu.Unlock()
				return
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			g.leave()
		})
	}
	enter(ctx, "bulk 1")
	queued(1)
	enter(ctx, "bulk 2")
	queued(2)
	gaveUp, cancel := context.WithCancel(ctx)
	enter(gaveUp, "bulk 3")
	queued(3)
	enter(tenure.Urgent(ctx), "lock")
	queued(4)
	cancel()
	queued(3)
	g.leave()
	wg.Wait()
	want := []string{"bulk 3 gave up", "lock", "bulk 1", "bulk 2"}
	if !slices.Equal(order, want) {
		t.Fatalf("order = %q, want %q", order, want)
	}
	if g.held {
		t.Fatal("the gate is still held after everyone left")
	}
}
