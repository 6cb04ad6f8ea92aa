package integrations_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tenure-io/tenure/integrations"
)

// listOnly is a connector whose listing can only start from its first
// account.
type listOnly struct {
	integrations.Connector
	n int
}

func (l listOnly) List(_ context.Context, fn func(integrations.Account) bool) error {
	for i := range l.n {
		if !fn(integrations.Account{ID: fmt.Sprint(i)}) {
			return nil
		}
	}
	return nil
}

// TestListPagesWithoutACursor: a connector that is no PageLister is listed
// through List, in pages with no cursor to carry on from; asked to start part
// way, ListPages says it cannot.
func TestListPagesWithoutACursor(t *testing.T) {
	ctx := context.Background()
	var sizes []int
	total := 0
	err := integrations.ListPages(ctx, listOnly{n: 250}, "", func(accounts []integrations.Account, next string) bool {
		if next != "" {
			t.Errorf("a page with cursor %q", next)
		}
		if accounts[0].ID != fmt.Sprint(total) {
			t.Errorf("a page starts at %s, want %d", accounts[0].ID, total)
		}
		sizes = append(sizes, len(accounts))
		total += len(accounts)
		return true
	})
	if err != nil || fmt.Sprint(sizes) != "[100 100 50]" {
		t.Errorf("pages of %v, error %v; want 100, 100 and 50", sizes, err)
	}
	pages := 0
	if err := integrations.ListPages(ctx, listOnly{n: 250}, "", func([]integrations.Account, string) bool { pages++; return false }); err != nil || pages != 1 {
		t.Errorf("told to stop: %d pages, error %v", pages, err)
	}
	if err := integrations.ListPages(ctx, listOnly{n: 250}, "101", func([]integrations.Account, string) bool { return true }); !errors.Is(err, integrations.ErrNoResume) {
		t.Errorf("from a cursor: %v, want ErrNoResume", err)
	}
}
