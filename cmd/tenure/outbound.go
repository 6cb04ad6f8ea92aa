package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/client"

	"github.com/tenure-io/tenure/outbound"
	"github.com/tenure-io/tenure/store"
)

// secretKeyEnv names the variable that holds the key sealing subscribers'
// signing secrets in production.
const secretKeyEnv = "TENURE_SECRET_KEY"

// outboundKey returns the key that seals subscribers' signing secrets at rest:
// TENURE_SECRET_KEY when it is set, else DIR/secret.key, created on first use, when
// dataDir is set (tenure dev). Every API and worker process must share the key.
func outboundKey(getenv func(string) string, dataDir string) ([]byte, error) {
	if v := getenv(secretKeyEnv); v != "" {
		k, err := outbound.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", secretKeyEnv, err)
		}
		return k, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("%s is not set: generate one with `openssl rand -hex 32` and give the same value to every api and worker", secretKeyEnv)
	}
	path := filepath.Join(dataDir, "secret.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		b = []byte(outbound.NewKey() + "\n")
		// O_EXCL: two processes starting at once on one data dir agree on one key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return outboundKey(getenv, dataDir)
		}
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
		_, werr := f.Write(b)
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	k, err := outbound.ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// newOutbound returns the outbound-events service over the read model. Wire it in
// three places: as the api.Config Store (the subscription routes find it there),
// and as both the Store and the Publisher of activities.Activities (the
// outbound.Deliver activity finds it on the Publisher). allowPrivate lets
// subscribers live on loopback and private addresses: true for tenure dev and
// tests, false in production.
func newOutbound(db *store.DB, c client.Client, key []byte, allowPrivate bool, log *slog.Logger) (*outbound.Service, error) {
	return outbound.New(outbound.Config{Store: db, Temporal: c, Key: key, AllowPrivate: allowPrivate, Logger: log})
}

// prodOutbound is the outbound-events service of `tenure worker` and `tenure api`,
// or nil (with a warning) when TENURE_SECRET_KEY is not set: subscribers' secrets
// cannot be sealed without it.
func prodOutbound(getenv func(string) string, db *store.DB, c client.Client, log *slog.Logger) (*outbound.Service, error) {
	if getenv(secretKeyEnv) == "" {
		log.Warn("outbound events are off: set " + secretKeyEnv + " (openssl rand -hex 32, the same on every api and worker) to turn them on")
		return nil, nil
	}
	key, err := outboundKey(getenv, "")
	if err != nil {
		return nil, err
	}
	return newOutbound(db, c, key, false, log)
}
