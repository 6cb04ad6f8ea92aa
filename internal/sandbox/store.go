package sandbox

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elimity-com/scim"
	"github.com/tenure-io/tenure"
)

// flushDelay batches the writes of a burst (a bulk onboarding, say) into one
// file rewrite. State written in the last flushDelay before a crash is lost;
// Close saves everything. A rewrite of a big app takes longer: the next waits
// saveShare times as long as the last rewrites of every app took together
// (rewrites), so that rewriting the files never takes more than a tenth of a
// core, however many users and apps the sandbox holds.
const (
	flushDelay = 200 * time.Millisecond
	saveShare  = 10
)

// record is one stored user or group. Records are never changed once stored:
// a write stores a new record, so a snapshot for saving or a response being
// encoded can share them without holding the lock.
type record struct {
	ID         string         `json:"id"`
	ExternalID string         `json:"externalId,omitempty"`
	Attrs      map[string]any `json:"attributes"` // validated SCIM attributes, without id, externalId and meta
	Created    time.Time      `json:"created"`
	Modified   time.Time      `json:"lastModified"`
	Version    int64          `json:"version"`
}

// table is one resource type's records with their lookup indexes.
type table struct {
	byID  map[string]*record
	order []string          // IDs in creation order, for stable paging
	byKey map[string]string // lower-cased userName (users) or displayName (groups) to ID
	byExt map[string]string // externalId to ID
}

func newTable() table {
	return table{byID: map[string]*record{}, byKey: map[string]string{}, byExt: map[string]string{}}
}

func (t *table) put(r *record, key string) {
	if old, ok := t.byID[r.ID]; ok {
		t.unindex(old, key)
	} else {
		t.order = append(t.order, r.ID)
	}
	t.byID[r.ID] = r
	if k := keyOf(r, key); k != "" {
		t.byKey[k] = r.ID
	}
	if r.ExternalID != "" {
		t.byExt[r.ExternalID] = r.ID
	}
}

func (t *table) remove(id, key string) {
	r, ok := t.byID[id]
	if !ok {
		return
	}
	t.unindex(r, key)
	delete(t.byID, id)
	if i := slices.Index(t.order, id); i >= 0 {
		t.order = slices.Delete(t.order, i, i+1)
	}
}

func (t *table) unindex(r *record, key string) {
	if k := keyOf(r, key); k != "" && t.byKey[k] == r.ID {
		delete(t.byKey, k)
	}
	if r.ExternalID != "" && t.byExt[r.ExternalID] == r.ID {
		delete(t.byExt, r.ExternalID)
	}
}

// keyOf is the record's case-insensitive unique name.
func keyOf(r *record, attr string) string {
	s, _ := r.Attrs[attr].(string)
	return strings.ToLower(s)
}

// app is one sandbox app: its users, groups, faults and saved file.
type app struct {
	name string
	file string // "" in memory only
	log  *slog.Logger

	mu        sync.RWMutex
	users     table
	groups    table
	memberOf  map[string]map[string]bool // user ID to the IDs of groups that list it
	dirty     bool
	scheduled bool
	closed    bool
	// lastSave is how long the last file rewrite took; rewrites is the sum
	// of every app's lastSave, which the sandbox's apps share.
	lastSave time.Duration
	rewrites *atomic.Int64

	saveMu sync.Mutex // one file write at a time

	faultMu sync.Mutex
	faults  Faults
	// bucket is RatePerSecond's token bucket: the requests it would let
	// through now, as of filled.
	bucket float64
	filled time.Time

	dialect atomic.Pointer[Dialect] // nil is the default dialect

	typesMu sync.Mutex
	types   map[bool][]scim.ResourceType // by Dialect.NoActive
}

func newApp(name, file string, log *slog.Logger, rewrites *atomic.Int64) *app {
	return &app{
		name:     name,
		file:     file,
		log:      log,
		rewrites: rewrites,
		users:    newTable(),
		groups:   newTable(),
		memberOf: map[string]map[string]bool{},
		types:    map[bool][]scim.ResourceType{},
	}
}

// Attribute names that are unique, case-insensitively, within an app.
const (
	userKey  = "userName"
	groupKey = "displayName"
)

// savedState is the file format of DataDir/sandbox/<app>.json.
type savedState struct {
	Users  []*record `json:"users"`
	Groups []*record `json:"groups"`
}

func (a *app) load() error {
	if a.file == "" {
		return nil
	}
	data, err := os.ReadFile(a.file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return tenure.Errorf(tenure.EINTERNAL, "sandbox %s: reading %s: %v", a.name, a.file, err)
	}
	var st savedState
	if err := json.Unmarshal(data, &st); err != nil {
		return tenure.Errorf(tenure.EINTERNAL, "sandbox %s: %s is damaged: %v", a.name, a.file, err)
	}
	byAge := func(x, y *record) int {
		return cmp.Or(x.Created.Compare(y.Created), cmp.Compare(x.ID, y.ID))
	}
	slices.SortFunc(st.Users, byAge)
	slices.SortFunc(st.Groups, byAge)
	for _, r := range st.Users {
		if r.Attrs == nil {
			r.Attrs = map[string]any{}
		}
		a.users.put(r, userKey)
	}
	for _, r := range st.Groups {
		if r.Attrs == nil {
			r.Attrs = map[string]any{}
		}
		a.groups.put(r, groupKey)
		for _, m := range memberIDs(r) {
			a.link(m, r.ID)
		}
	}
	return nil
}

// changed notes a write; the caller holds a.mu. The file is rewritten a little
// later so that a burst of writes costs one rewrite.
func (a *app) changed() {
	if a.file == "" {
		return
	}
	a.dirty = true
	if a.closed {
		// After Close nobody will flush later, so save now (outside the lock).
		go func() {
			if err := a.save(); err != nil {
				a.log.Error("sandbox state not saved", "file", a.file, "error", err)
			}
		}()
		return
	}
	if !a.scheduled {
		a.scheduled = true
		time.AfterFunc(max(flushDelay, saveShare*time.Duration(a.rewrites.Load())), func() {
			if err := a.save(); err != nil {
				a.log.Error("sandbox state not saved", "file", a.file, "error", err)
			}
		})
	}
}

// save writes the app's state to its file, atomically, if it has changed.
func (a *app) save() error {
	if a.file == "" {
		return nil
	}
	a.saveMu.Lock()
	defer a.saveMu.Unlock()

	a.mu.Lock()
	a.scheduled = false
	if !a.dirty {
		a.mu.Unlock()
		return nil
	}
	a.dirty = false
	st := savedState{Users: a.users.list(), Groups: a.groups.list()}
	a.mu.Unlock()

	began := time.Now()
	err := writeFileAtomic(a.file, st)
	took := time.Since(began)
	a.mu.Lock()
	a.rewrites.Add(int64(took - a.lastSave))
	a.lastSave = took
	a.mu.Unlock()
	if err != nil {
		a.mu.Lock()
		a.dirty = true // try again with the next write or at Close
		a.mu.Unlock()
		return tenure.Errorf(tenure.EINTERNAL, "sandbox %s: saving %s: %v", a.name, a.file, err)
	}
	return nil
}

func (t *table) list() []*record {
	out := make([]*record, len(t.order))
	for i, id := range t.order {
		out[i] = t.byID[id]
	}
	return out
}

func writeFileAtomic(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func (a *app) close() error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	return a.save()
}

// reset forgets every user and group.
func (a *app) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users = newTable()
	a.groups = newTable()
	a.memberOf = map[string]map[string]bool{}
	a.changed()
}

func (a *app) link(userID, groupID string) {
	gs := a.memberOf[userID]
	if gs == nil {
		gs = map[string]bool{}
		a.memberOf[userID] = gs
	}
	gs[groupID] = true
}

func (a *app) unlink(userID, groupID string) {
	if gs := a.memberOf[userID]; gs != nil {
		delete(gs, groupID)
		if len(gs) == 0 {
			delete(a.memberOf, userID)
		}
	}
}

// groupsOf returns the groups that list the user, by display name; the caller
// holds a.mu.
func (a *app) groupsOf(userID string) []*record {
	var out []*record
	for gid := range a.memberOf[userID] {
		if g, ok := a.groups.byID[gid]; ok {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(x, y *record) int {
		return cmp.Or(cmp.Compare(str(x.Attrs, groupKey), str(y.Attrs, groupKey)), cmp.Compare(x.ID, y.ID))
	})
	return out
}

func (a *app) listUsers() []User {
	noActive := a.getDialect().NoActive
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]User, 0, len(a.users.order))
	for _, id := range a.users.order {
		out = append(out, a.userOf(a.users.byID[id], noActive))
	}
	return out
}

// userByExternalID is the user whose externalId is ext, found through the index.
func (a *app) userByExternalID(ext string) (User, bool) {
	noActive := a.getDialect().NoActive
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.users.byExt[ext]
	if !ok {
		return User{}, false
	}
	return a.userOf(a.users.byID[id], noActive), true
}

// userOf is the stored record r as a User; the caller holds a.mu.
func (a *app) userOf(r *record, noActive bool) User {
	name, _ := r.Attrs["name"].(map[string]any)
	active, _ := r.Attrs["active"].(bool)
	if noActive {
		active = true // an account that exists is all there is
	}
	u := User{
		ID:         r.ID,
		UserName:   str(r.Attrs, userKey),
		ExternalID: r.ExternalID,
		GivenName:  str(name, "givenName"),
		FamilyName: str(name, "familyName"),
		Email:      primaryEmail(r.Attrs),
		Active:     active,
		Groups:     []string{},
	}
	for _, g := range a.groupsOf(r.ID) {
		// A user listed twice by a group is in it once.
		if name := str(g.Attrs, groupKey); !slices.Contains(u.Groups, name) {
			u.Groups = append(u.Groups, name)
		}
	}
	return u
}

func (a *app) setFaults(f Faults) {
	a.faultMu.Lock()
	a.faults = f
	a.bucket, a.filled = f.RatePerSecond, time.Now()
	a.faultMu.Unlock()
}

// overRate takes one request from the rate limit's bucket, and says how long
// until the next request is allowed when the bucket is empty. faultMu is held.
func (a *app) overRate(now time.Time) (time.Duration, bool) {
	rate := a.faults.RatePerSecond
	if rate <= 0 {
		return 0, false
	}
	a.bucket = min(rate, a.bucket+now.Sub(a.filled).Seconds()*rate)
	a.filled = now
	if a.bucket >= 1 {
		a.bucket--
		return 0, false
	}
	return time.Duration((1 - a.bucket) / rate * float64(time.Second)), true
}

func (a *app) getFaults() Faults {
	a.faultMu.Lock()
	defer a.faultMu.Unlock()
	return a.faults
}

// primaryEmail is the email marked primary, or else the first one.
func primaryEmail(attrs map[string]any) string {
	list, _ := attrs["emails"].([]any)
	first := ""
	for _, e := range list {
		m, _ := e.(map[string]any)
		v := str(m, "value")
		if p, _ := m["primary"].(bool); p && v != "" {
			return v
		}
		if first == "" {
			first = v
		}
	}
	return first
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// memberIDs lists the IDs a group's members attribute names.
func memberIDs(g *record) []string {
	list, _ := g.Attrs["members"].([]any)
	ids := make([]string, 0, len(list))
	for _, m := range list {
		if v := str(asMap(m), "value"); v != "" {
			ids = append(ids, v)
		}
	}
	return ids
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// newID returns a random UUID (version 4), the form most SaaS SCIM APIs use.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
