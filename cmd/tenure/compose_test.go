package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestComposeLocksDownTheTemporalUI: the Temporal UI has no sign-in of its
// own, and Temporal takes signals from whoever reaches it. docker-compose.yml
// must publish both on loopback only, and keep the UI read-only.
func TestComposeLocksDownTheTemporalUI(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Ports       []string          `yaml:"ports"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	// Services override keys they take from a YAML anchor, as Compose allows.
	if err := yaml.UnmarshalWithOptions(raw, &compose, yaml.AllowDuplicateMapKey()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"temporal", "temporal-ui"} {
		svc, ok := compose.Services[name]
		if !ok {
			t.Fatalf("docker-compose.yml has no %s service", name)
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q on every interface; bind it to 127.0.0.1", name, p)
			}
		}
	}
	if got := compose.Services["temporal-ui"].Environment["TEMPORAL_DISABLE_WRITE_ACTIONS"]; got != "true" {
		t.Errorf("temporal-ui: TEMPORAL_DISABLE_WRITE_ACTIONS = %q, want true", got)
	}
}
