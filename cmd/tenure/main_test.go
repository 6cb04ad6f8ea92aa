package main

import (
	"os"
	"testing"
)

// asTenureEnv, set to 1, makes the test binary run as tenure itself, so that a
// test whose command starts tenure as a child process (bench --reconcile) need
// not build it first.
const asTenureEnv = "TENURE_TEST_AS_TENURE"

func TestMain(m *testing.M) {
	if os.Getenv(asTenureEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}
