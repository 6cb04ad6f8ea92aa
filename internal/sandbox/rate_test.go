package sandbox_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/tenure-io/tenure/internal/sandbox"
)

func TestRatePerSecondLetsThatManyThroughAndTellsTheRestWhenToComeBack(t *testing.T) {
	s, c := start(t, t.TempDir())
	if err := s.SetFaults("github", sandbox.Faults{RatePerSecond: 5}); err != nil {
		t.Fatal(err)
	}
	ok, limited := 0, 0
	for range 20 {
		r := c.do(http.MethodGet, "Users", nil)
		switch r.status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
				t.Fatalf("Retry-After %q, want whole seconds, at least 1", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	// The bucket starts full (5) and refills at 5/s while the requests run.
	if ok < 5 || ok > 8 || limited != 20-ok {
		t.Fatalf("%d answered, %d limited; want about 5 answered and the rest limited", ok, limited)
	}
}
