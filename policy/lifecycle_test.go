package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenure-io/tenure/policy"
)

func TestMoverGrace(t *testing.T) {
	for src, want := range map[string]time.Duration{
		"":                    0,
		"mover_grace: 0\n":    0,
		"mover_grace: 0s\n":   0,
		"mover_grace: 72h\n":  72 * time.Hour,
		"mover_grace: 14d\n":  14 * 24 * time.Hour,
		"mover_grace: 90m\n":  90 * time.Minute,
		"mover_grace: \"3d\"": 3 * 24 * time.Hour,
	} {
		if got := mustParse(t, "version: 1\n"+src).MoverGrace(); got != want {
			t.Errorf("%q: mover grace %v, want %v", src, got, want)
		}
	}
	for src, reason := range map[string]string{
		"mover_grace: -1h\n":       "must be positive",
		"mover_grace: 3\n":         "use a Go duration",
		"mover_grace: soon\n":      `mover_grace: bad duration "soon"`,
		"mover_grace: [1h]\n":      "mover_grace must be a string",
		"mover_grace: 99999999d\n": "too long",
	} {
		_, err := policy.Parse("p.yaml", []byte("version: 1\n"+src), specs, noEnv)
		var pe *policy.Error
		if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(pe.Reason, reason) {
			t.Errorf("%q: %v, want line 2 saying %q", src, err, reason)
		}
	}
}
