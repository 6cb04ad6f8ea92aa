// Package googletest is a local fake of Google Workspace for tests: the OAuth 2.0
// token endpoint a service account with domain-wide delegation signs in at, and
// the parts of the Admin SDK Directory API (users, groups, members) and Data
// Transfer API (applications, transfers) that Tenure's google connector uses, with
// Google's documented request and response shapes, its JSON error format, page
// tokens, and scope checks. It exists so the real client libraries can be tested
// against something that refuses what Google refuses.
//
// NewServer starts it with a generated service-account key whose token_uri points
// at the fake; give the connector BaseURL() as base_url and Credentials as the
// credentials secret, then inspect the directory through the accessors.
package googletest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fake Workspace's fixed identity.
const (
	Domain      = "example.com"
	Admin       = "admin@example.com"
	CustomerID  = "C01tenure"
	ClientEmail = "tenure@tenure-test.iam.gserviceaccount.com"
)

// DriveApplicationID and CalendarApplicationID are the IDs applications.list
// reports, as Google does, for Drive and Calendar.
const (
	DriveApplicationID    = "55656082996"
	CalendarApplicationID = "435070579839"
)

// The OAuth scopes the fake knows, as Google names them.
const (
	ScopeUser           = "https://www.googleapis.com/auth/admin.directory.user"
	ScopeUserRead       = "https://www.googleapis.com/auth/admin.directory.user.readonly"
	ScopeGroup          = "https://www.googleapis.com/auth/admin.directory.group"
	ScopeGroupRead      = "https://www.googleapis.com/auth/admin.directory.group.readonly"
	ScopeGroupMember    = "https://www.googleapis.com/auth/admin.directory.group.member"
	ScopeDataTransfer   = "https://www.googleapis.com/auth/admin.datatransfer"
	ScopeDataTransferRO = "https://www.googleapis.com/auth/admin.datatransfer.readonly"
)

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// User is a user of the fake directory as a test sees it.
type User struct {
	ID           string
	PrimaryEmail string
	GivenName    string
	FamilyName   string
	ExternalID   string // the organization-typed externalId
	Title        string
	Department   string
	Suspended    bool
	Archived     bool
	IsAdmin      bool
	// HasPassword says an initial password was set; the fake keeps no password.
	HasPassword               bool
	ChangePasswordAtNextLogin bool
	// SignOuts counts users.signOut calls.
	SignOuts int
	Aliases  []string
}

// Transfer is a data transfer as a test sees it.
type Transfer struct {
	ID             string
	OldOwnerUserID string
	NewOwnerUserID string
	Applications   []string            // application IDs
	Params         map[string][]string // Drive's transfer parameters, such as PRIVACY_LEVEL
	Status         string              // new, inProgress, completed or failed
}

// File is a Drive file the fake keeps, only so a test can see a transfer move it.
type File struct {
	Name   string
	Shared bool // shared with someone else (PRIVACY_LEVEL SHARED) or private
}

// Fault is an error the fake answers instead of serving a request.
type Fault struct {
	Status     int
	Reason     string // such as "rateLimitExceeded"
	Domain     string // such as "usageLimits"; "global" when empty
	Message    string
	RetryAfter string // a Retry-After header value, when set
}

// Call is one API request as the fake received it.
type Call struct {
	Method  string
	Path    string
	Query   url.Values
	Subject string // the admin the token was issued for
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	// URL is the fake's root, without a trailing slash.
	URL string
	// Credentials is a service-account JSON key whose token_uri is the fake's token endpoint.
	Credentials []byte

	srv *httptest.Server
	key *rsa.PrivateKey

	mu            sync.Mutex
	users         []*user // in creation order
	groups        []*group
	files         map[string][]File // by owner ID
	transfers     []*transfer
	tokens        map[string]grant
	authorised    map[string]bool // scopes granted to the client under domain-wide delegation
	faults        []Fault
	tokenFaults   []Fault
	transferSteps int
	failTransfers bool
	seq           int
	calls         []Call
	tokenRequests int
}

type user struct {
	User
	created time.Time
	groups  []*group
}

type group struct {
	id, email, name string
	members         []*user
}

type transfer struct {
	Transfer
	polls   int
	created time.Time
}

type grant struct {
	subject string
	scopes  map[string]bool
	expiry  time.Time
}

var (
	keyOnce    sync.Once
	sharedKey  *rsa.PrivateKey
	foreignKey *rsa.PrivateKey
)

// testKeys generates the RSA keys once per process: a 2048-bit key takes a while,
// and every fake would otherwise pay for it.
func testKeys() (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if sharedKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if foreignKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return sharedKey, foreignKey
}

// NewServer starts the fake with one user, the super admin Admin, and the
// connector's scopes authorised for its service account. Close it when done.
func NewServer() *Server {
	key, _ := testKeys()
	s := &Server{
		key:           key,
		files:         map[string][]File{},
		tokens:        map[string]grant{},
		transferSteps: 1,
		authorised: map[string]bool{ScopeUser: true, ScopeGroupMember: true, ScopeGroupRead: true,
			ScopeGroup: true, ScopeDataTransfer: true},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	s.Credentials = s.credentials(key)
	s.AddUser(User{PrimaryEmail: Admin, GivenName: "Workspace", FamilyName: "Admin", IsAdmin: true})
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.srv.Close() }

// BaseURL is the API root to give the connector as base_url.
func (s *Server) BaseURL() string { return s.URL + "/" }

// TokenURL is the fake's OAuth 2.0 token endpoint.
func (s *Server) TokenURL() string { return s.URL + "/token" }

// ForeignCredentials is a key for the same service account signed with another
// private key, which the token endpoint rejects as Google would a revoked key.
func (s *Server) ForeignCredentials() []byte {
	_, other := testKeys()
	return s.credentials(other)
}

func (s *Server) credentials(key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(der)
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  "tenure-test",
		"private_key_id":              hex.EncodeToString(sum[:20]),
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                ClientEmail,
		"client_id":                   "109876543210987654321",
		"auth_uri":                    s.URL + "/o/oauth2/auth",
		"token_uri":                   s.TokenURL(),
		"auth_provider_x509_cert_url": s.URL + "/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return b
}

// SetAuthorisedScopes replaces the scopes domain-wide delegation grants the
// service account, as an admin would in the Admin console.
func (s *Server) SetAuthorisedScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorised = map[string]bool{}
	for _, sc := range scopes {
		s.authorised[sc] = true
	}
}

// Fail makes the next n API requests (not token requests) answer f.
func (s *Server) Fail(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// RateLimit makes the next n API requests answer Google's 403 rateLimitExceeded.
func (s *Server) RateLimit(n int) {
	s.Fail(n, Fault{Status: http.StatusForbidden, Reason: "rateLimitExceeded", Domain: "usageLimits", Message: "Rate Limit Exceeded"})
}

// FailTokens makes the next n token requests answer f's status with an OAuth error.
func (s *Server) FailTokens(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.tokenFaults = append(s.tokenFaults, f)
	}
}

// SetTransferSteps sets how many transfers.get calls report a transfer
// inProgress before it completes.
func (s *Server) SetTransferSteps(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transferSteps = n
}

// FailTransfers makes transfers end as failed instead of completed.
func (s *Server) FailTransfers(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failTransfers = fail
}

// AddUser adds a user directly, as if created in the Admin console, and returns it
// with its ID.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	nu := &user{User: u, created: time.Now()}
	nu.ID = s.newID()
	nu.PrimaryEmail = strings.ToLower(nu.PrimaryEmail)
	s.users = append(s.users, nu)
	return nu.User
}

// AddGroup adds a group with the given address and name.
func (s *Server) AddGroup(email, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = append(s.groups, &group{id: "0" + s.newID()[1:], email: strings.ToLower(email), name: name})
}

// AddMember makes the user with the given email a member of the group, as an
// admin would outside Tenure.
func (s *Server) AddMember(groupEmail, userEmail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, u := s.group(groupEmail), s.user(userEmail)
	if g == nil || u == nil {
		panic("googletest: AddMember of an unknown group or user")
	}
	if !slices.Contains(g.members, u) {
		g.members = append(g.members, u)
		u.groups = append(u.groups, g)
	}
}

// AddFile gives the user with the given email a Drive file.
func (s *Server) AddFile(ownerEmail string, f File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(ownerEmail)
	if u == nil {
		panic("googletest: AddFile for an unknown user")
	}
	s.files[u.ID] = append(s.files[u.ID], f)
}

// Files lists the Drive files the user with the given email owns.
func (s *Server) Files(ownerEmail string) []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(ownerEmail)
	if u == nil {
		return nil
	}
	return slices.Clone(s.files[u.ID])
}

// Users lists the directory's users in creation order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u.snapshot())
	}
	return out
}

// User finds a user by ID, primary email or alias.
func (s *Server) User(key string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.user(key); u != nil {
		return u.snapshot(), true
	}
	return User{}, false
}

// Members lists the primary emails of the group's direct members, sorted.
func (s *Server) Members(groupKey string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(groupKey)
	if g == nil {
		return nil
	}
	var out []string
	for _, m := range g.members {
		out = append(out, m.PrimaryEmail)
	}
	slices.Sort(out)
	return out
}

// Transfers lists the data transfers in the order they were requested.
func (s *Server) Transfers() []Transfer {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Transfer
	for _, t := range s.transfers {
		c := t.Transfer
		c.Applications = slices.Clone(t.Applications)
		out = append(out, c)
	}
	return out
}

// Calls lists the API requests served or refused, token requests aside.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// TokenRequests counts the requests to the token endpoint.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

func (u *user) snapshot() User {
	c := u.User
	c.Aliases = slices.Clone(u.Aliases)
	return c
}

// newID makes a numeric ID like Google's 21-digit user IDs. Callers hold s.mu.
func (s *Server) newID() string {
	s.seq++
	return fmt.Sprintf("1%08d%012d", s.seq*7919%100000000, s.seq)
}

// user finds a user by ID, primary email or alias. Callers hold s.mu.
func (s *Server) user(key string) *user {
	k := strings.ToLower(key)
	for _, u := range s.users {
		if u.ID == key || u.PrimaryEmail == k || slices.Contains(u.Aliases, k) {
			return u
		}
	}
	return nil
}

// group finds a group by ID or email. Callers hold s.mu.
func (s *Server) group(key string) *group {
	k := strings.ToLower(key)
	for _, g := range s.groups {
		if g.id == key || g.email == k {
			return g
		}
	}
	return nil
}

// serve routes a request: the token endpoint, or an API call that needs a token.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.token(w, r)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.authenticate(r)
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Subject: g.subject})
	if !ok {
		writeError(w, http.StatusUnauthorized, "authError", "global",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		domain := f.Domain
		if domain == "" {
			domain = "global"
		}
		writeError(w, f.Status, f.Reason, domain, f.Message)
		return
	}
	if admin := s.user(g.subject); admin == nil || !admin.IsAdmin {
		// A token for a subject that is not an admin (or for the service account
		// itself, without domain-wide delegation) reads nothing.
		writeError(w, http.StatusForbidden, "forbidden", "global", "Not Authorized to access this resource/api")
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/admin/directory/v1/"):
		s.directory(w, r, g, strings.Split(strings.TrimPrefix(path, "/admin/directory/v1/"), "/"))
	case strings.HasPrefix(path, "/admin/datatransfer/v1/"):
		s.datatransfer(w, r, g, strings.Split(strings.TrimPrefix(path, "/admin/datatransfer/v1/"), "/"))
	default:
		writeError(w, http.StatusNotFound, "notFound", "global", "Not Found")
	}
}

// authenticate checks the bearer token. Callers hold s.mu.
func (s *Server) authenticate(r *http.Request) (grant, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return grant{}, false
	}
	g, ok := s.tokens[tok]
	if !ok || time.Now().After(g.expiry) {
		return grant{}, false
	}
	return g, true
}

// allowed answers 403 insufficientPermissions unless the token carries one of scopes.
func allowed(w http.ResponseWriter, g grant, scopes ...string) bool {
	for _, sc := range scopes {
		if g.scopes[sc] {
			return true
		}
	}
	writeError(w, http.StatusForbidden, "insufficientPermissions", "global", "Request had insufficient authentication scopes.")
	return false
}

// writeError writes Google's JSON error format.
func writeError(w http.ResponseWriter, status int, reason, domain, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    status,
		"message": message,
		"errors":  []map[string]string{{"message": message, "domain": domain, "reason": reason}},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func notFound(w http.ResponseWriter, what string) {
	writeError(w, http.StatusNotFound, "notFound", "global", "Resource Not Found: "+what)
}

func badRequest(w http.ResponseWriter, reason, message string) {
	writeError(w, http.StatusBadRequest, reason, "global", message)
}

// page cuts items to one page by maxResults and pageToken, the way Google's list
// methods do, and returns the next page's token ("" on the last page).
func page[T any](w http.ResponseWriter, q url.Values, items []T, def, limit int) ([]T, string, bool) {
	n := def
	if v := q.Get("maxResults"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > limit {
			badRequest(w, "invalid", fmt.Sprintf("Invalid value '%s'. Values must be within the range: [1, %d]", v, limit))
			return nil, "", false
		}
		n = m
	}
	start := 0
	if t := q.Get("pageToken"); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		off, cerr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || cerr != nil || !strings.HasPrefix(string(raw), "offset:") || off < 0 || off > len(items) {
			badRequest(w, "invalid", "Invalid Input: pageToken")
			return nil, "", false
		}
		start = off
	}
	end := min(start+n, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return items[start:end], next, true
}

// token is the OAuth 2.0 token endpoint for the JWT bearer grant (RFC 7523), as
// Google runs it for service accounts: it checks the assertion's signature
// against the key's public half, its issuer, audience and lifetime, the user it
// impersonates (sub), and that every scope asked for is authorised.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenRequests++
	oauthError := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if len(s.tokenFaults) > 0 {
		f := s.tokenFaults[0]
		s.tokenFaults = s.tokenFaults[1:]
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		oauthError(f.Status, f.Reason, f.Message)
		return
	}
	if r.Method != http.MethodPost {
		oauthError(http.StatusMethodNotAllowed, "invalid_request", "POST is required")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != jwtBearerGrant {
		oauthError(http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	claims, ok := s.verify(r.PostForm.Get("assertion"))
	if !ok {
		oauthError(http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	now := time.Now().Unix()
	switch {
	case claims.Iss != ClientEmail:
		oauthError(http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	case claims.Aud != s.TokenURL():
		oauthError(http.StatusBadRequest, "invalid_grant", "Invalid JWT: Failed audience check.")
		return
	case claims.Exp <= now || claims.Iat > now+300 || claims.Exp-claims.Iat > 3600:
		oauthError(http.StatusBadRequest, "invalid_grant",
			"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	if claims.Sub != "" && s.user(claims.Sub) == nil {
		oauthError(http.StatusBadRequest, "invalid_grant", "Invalid email or User ID")
		return
	}
	scopes := map[string]bool{}
	for _, sc := range strings.Fields(claims.Scope) {
		if claims.Sub != "" && !s.authorised[sc] {
			oauthError(http.StatusUnauthorized, "unauthorized_client",
				"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
			return
		}
		scopes[sc] = true
	}
	if len(scopes) == 0 {
		oauthError(http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
		return
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := "ya29.fake-" + base64.RawURLEncoding.EncodeToString(b)
	s.tokens[tok] = grant{subject: claims.Sub, scopes: scopes, expiry: time.Now().Add(time.Hour)}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Exp   int64  `json:"exp"`
	Iat   int64  `json:"iat"`
}

// verify checks an RS256 JWT against the service account's public key.
func (s *Server) verify(assertion string) (jwtClaims, bool) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return jwtClaims{}, false
	}
	var header struct {
		Alg string `json:"alg"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil || header.Alg != "RS256" {
		return jwtClaims{}, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return jwtClaims{}, false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return jwtClaims{}, false
	}
	var c jwtClaims
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(pb, &c) != nil {
		return jwtClaims{}, false
	}
	return c, true
}
