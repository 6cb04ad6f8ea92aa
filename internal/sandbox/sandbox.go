package sandbox

import (
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tenure-io/tenure"
)

// Options configure the sandbox.
type Options struct {
	Apps    []string     // app names, such as "github", "slack" or "google"; AddApp adds more
	Token   string       // the bearer token every request must carry; a secret, never logged
	DataDir string       // state is kept in DataDir/sandbox/<app>.json; "" keeps it in memory only
	Logger  *slog.Logger // nil discards logs
}

// Sandbox is a set of sandbox SCIM apps. It is safe for concurrent use.
type Sandbox struct {
	token []byte
	dir   string // "" when state is in memory only
	log   *slog.Logger

	// mu guards names and apps, which AddApp extends.
	mu    sync.RWMutex
	names []string
	apps  map[string]*app
	// rewrites is how long the last rewrite of every app's file took, together.
	rewrites atomic.Int64
}

// User is a user as a sandbox app stores it.
type User struct {
	ID, UserName, ExternalID, GivenName, FamilyName, Email string
	Active                                                 bool
	Groups                                                 []string // group display names, sorted
}

// appName keeps app names safe both as a URL path segment and as a file name.
var appName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// New builds the sandbox apps and loads any state saved in opts.DataDir.
func New(opts Options) (*Sandbox, error) {
	var fields []tenure.FieldError
	if opts.Token == "" {
		fields = append(fields, tenure.FieldError{Field: "Token", Problem: "is required"})
	}
	seen := map[string]bool{}
	for _, name := range opts.Apps {
		switch {
		case !appName.MatchString(name):
			fields = append(fields, badName(name))
		case seen[name]:
			fields = append(fields, tenure.FieldError{Field: "Apps", Problem: "app " + quote(name) + " is named twice"})
		}
		seen[name] = true
	}
	if len(fields) > 0 {
		return nil, tenure.Invalid(fields...)
	}

	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{
		token: []byte(opts.Token),
		log:   log,
		names: slices.Clone(opts.Apps),
		apps:  make(map[string]*app, len(opts.Apps)),
	}
	if opts.DataDir != "" {
		s.dir = filepath.Join(opts.DataDir, "sandbox")
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return nil, tenure.Errorf(tenure.EINTERNAL, "sandbox: creating %s: %v", s.dir, err)
		}
	}
	for _, name := range opts.Apps {
		a := newApp(name, s.filePath(name), log.With("app", name), &s.rewrites)
		if err := a.load(); err != nil {
			return nil, err
		}
		s.apps[name] = a
	}
	return s, nil
}

func badName(name string) tenure.FieldError {
	return tenure.FieldError{Field: "Apps", Problem: "app name " + quote(name) + " must be lower-case letters, digits, '-' or '_'"}
}

// AddApp starts serving one more app, with any state saved for it in the data
// directory; an app that is served already is left as it is. tenure dev calls
// it when a deployed policy names a new sandbox app.
func (s *Sandbox) AddApp(name string) error {
	if !appName.MatchString(name) {
		return tenure.Invalid(badName(name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps[name]; ok {
		return nil
	}
	a := newApp(name, s.filePath(name), s.log.With("app", name), &s.rewrites)
	if err := a.load(); err != nil {
		return err
	}
	s.apps[name] = a
	s.names = append(s.names, name)
	s.log.Info("sandbox app added", "app", name)
	return nil
}

func (s *Sandbox) filePath(app string) string {
	if s.dir == "" {
		return ""
	}
	return filepath.Join(s.dir, app+".json")
}

// Handler serves /sandbox/<app>/scim/v2/..., /sandbox/<app>/_faults and
// /sandbox/<app>/_reset.
func (s *Sandbox) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Apps returns the app names in the order they were configured.
func (s *Sandbox) Apps() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.names)
}

// SetFaults replaces one app's faults. The zero Faults makes it behave again.
func (s *Sandbox) SetFaults(app string, f Faults) error {
	a, err := s.app(app)
	if err != nil {
		return err
	}
	f, err = f.normalize()
	if err != nil {
		return err
	}
	a.setFaults(f)
	s.log.Info("sandbox faults set", "app", app, "faults", f.String())
	return nil
}

// Users returns an app's users as stored, oldest first.
func (s *Sandbox) Users(app string) ([]User, error) {
	a, err := s.app(app)
	if err != nil {
		return nil, err
	}
	return a.listUsers(), nil
}

// User returns an app's user whose externalId is externalID, and whether there
// is one. It reads the app's index, so polling one person costs the same however
// many users the app holds.
func (s *Sandbox) User(app, externalID string) (User, bool, error) {
	a, err := s.app(app)
	if err != nil {
		return User{}, false, err
	}
	u, ok := a.userByExternalID(externalID)
	return u, ok, nil
}

// Close writes any state not yet saved. Requests served afterwards still work
// and are saved at once.
func (s *Sandbox) Close() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var errs []error
	for _, name := range s.names {
		if err := s.apps[name].close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Sandbox) app(name string) (*app, error) {
	s.mu.RLock()
	a, ok := s.apps[name]
	s.mu.RUnlock()
	if !ok {
		return nil, tenure.Errorf(tenure.ENOTFOUND, "sandbox: no app named %s", quote(name))
	}
	return a, nil
}

func quote(s string) string { return "\"" + s + "\"" }
