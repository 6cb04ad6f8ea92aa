// Package slacktest is a local fake of Slack for tests: the Web API methods
// Tenure calls (users.lookupByEmail, users.info, conversations.open,
// chat.postMessage, chat.update, chat.postEphemeral, views.open), with Slack's
// documented request and response shapes (form or JSON bodies, the bot token as
// a bearer token or a token field, HTTP 200 with {"ok": false, "error": ...} for
// refusals), response URLs, and Slack's side of interactivity: it signs and
// sends block_actions and view_submission payloads to an app the way Slack
// does. It records every call for assertions.
//
// For the Slack connector it also serves Slack's SCIM 2.0 API (see scim.go) and
// admin.users.session.reset, both for the org admin's user token, with state a
// test can read: users' active flags, IdP group members, session resets. Rate
// limits can be injected into either API.
//
// Point TENURE_SLACK_API_URL (slack.Config.APIURL) at APIURL,
// TENURE_SLACK_RESPONSE_URL_BASE (slack.Config.ResponseURLBase) at
// ResponseURLBase, and a slack connector's base_url at SCIMURL.
package slacktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TeamID is the fake workspace's ID.
const TeamID = "T0TENURE"

// triggerLifetime is how long Slack lets an app use a trigger_id.
const triggerLifetime = 3 * time.Second

// User is a member of the fake workspace.
type User struct {
	ID    string // such as "U0BOSS"
	Email string
	Name  string
}

// Config describes the fake workspace.
type Config struct {
	// Token is the bot token the Web API accepts, such as "xoxb-test".
	Token string
	// AdminToken is an org admin's user token with the admin scope, such as
	// "xoxp-admin": the only token the SCIM API and admin.* methods accept.
	AdminToken string
	// SigningSecret signs the interactions the fake sends.
	SigningSecret string
	Users         []User
	// Channels are the IDs of channels the bot is a member of, such as "C0IT".
	Channels []string
}

// Call is one Web API call as the fake received it.
type Call struct {
	Method string
	// Args are the arguments: form fields, or a JSON body's top-level fields
	// (objects and arrays as JSON text). The token is left out.
	Args map[string]string
	// Blocks are the message's blocks, decoded, for chat.* methods.
	Blocks []map[string]any
	// View is the view of views.open, decoded.
	View map[string]any
	// Channel and TS are the message a chat.postMessage or chat.update posted
	// or changed, as Slack answered.
	Channel, TS string
	// Error is the error Slack answered with, or "" for ok.
	Error string
	At    time.Time
}

// Button is a button found in blocks.
type Button struct {
	ActionID, BlockID, Value, Text, URL, Style string
}

// Text is every piece of text in the call: the text argument and all text in
// the blocks (or the view), joined by newlines, for Contains assertions.
func (c Call) Text() string {
	var parts []string
	if t := c.Args["text"]; t != "" {
		parts = append(parts, t)
	}
	for _, b := range c.Blocks {
		collectText(b, &parts)
	}
	if c.View != nil {
		collectText(c.View, &parts)
	}
	return strings.Join(parts, "\n")
}

// Buttons lists the buttons in the call's blocks, in order.
func (c Call) Buttons() []Button { return buttons(c.Blocks) }

func collectText(v any, parts *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if s, ok := v[k].(string); ok && k == "text" {
				*parts = append(*parts, s)
				continue
			}
			collectText(v[k], parts)
		}
	case []any:
		for _, x := range v {
			collectText(x, parts)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func buttons(blocks []map[string]any) []Button {
	var out []Button
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		blockID, _ := b["block_id"].(string)
		els, _ := b["elements"].([]any)
		for _, e := range els {
			m, _ := e.(map[string]any)
			if m["type"] != "button" {
				continue
			}
			btn := Button{BlockID: blockID}
			btn.ActionID, _ = m["action_id"].(string)
			btn.Value, _ = m["value"].(string)
			btn.URL, _ = m["url"].(string)
			btn.Style, _ = m["style"].(string)
			if t, ok := m["text"].(map[string]any); ok {
				btn.Text, _ = t["text"].(string)
			}
			out = append(out, btn)
		}
	}
	return out
}

// Response is what an app posted to a response_url.
type Response struct {
	// UserID is who the interaction that gave the URL came from.
	UserID string
	// Body is the JSON the app sent (text, response_type, replace_original...).
	Body map[string]any
	At   time.Time
}

// Text is the response's text.
func (r Response) Text() string { s, _ := r.Body["text"].(string); return s }

// Ephemeral reports whether the response is shown to the clicker alone.
func (r Response) Ephemeral() bool {
	t, _ := r.Body["response_type"].(string)
	return t == "" || t == "ephemeral" // Slack's default is ephemeral
}

// Delivery is an app's answer to an interaction the fake sent.
type Delivery struct {
	Status  int
	Body    []byte
	Elapsed time.Duration
}

type message struct {
	ts     string
	text   string
	blocks []map[string]any
}

type trigger struct {
	user   string
	issued time.Time
	used   bool
}

type hookURL struct {
	user string
	uses int
}

type view struct {
	id, user string
	body     map[string]any
}

// Server is the fake Slack. It is safe for concurrent use.
type Server struct {
	cfg Config
	srv *httptest.Server

	mu        sync.Mutex
	calls     []Call
	responses []Response
	dms       map[string]string // user ID -> DM channel ID
	messages  map[string][]*message
	triggers  map[string]*trigger
	urls      map[string]*hookURL
	views     []*view
	seq       int

	scimUsers    []*SCIMUser
	scimGroups   []*scimGroup
	scimLimit    rateLimit
	scimRequests int
	methodLimits map[string]*rateLimit
	resets       map[string]int      // user ID -> admin.users.session.reset calls
	dropped      map[string][]string // method -> fields left out of its ok answers
}

// New starts a fake Slack; Close stops it.
func New(cfg Config) *Server {
	s := &Server{
		cfg:      cfg,
		dms:      map[string]string{},
		messages: map[string][]*message{},
		triggers: map[string]*trigger{},
		urls:     map[string]*hookURL{},

		methodLimits: map[string]*rateLimit{},
		resets:       map[string]int{},
		dropped:      map[string][]string{},
	}
	for _, c := range cfg.Channels {
		s.messages[c] = nil
	}
	// The configured members are SCIM users too, as in a real workspace.
	for _, u := range cfg.Users {
		name := u.Name
		if name == "" {
			name = u.Email
		}
		s.scimUsers = append(s.scimUsers, &SCIMUser{ID: u.ID, UserName: slackUserName(name), Email: u.Email, Active: true, seeded: true})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.api)
	mux.HandleFunc("/scim/v2/", s.scim)
	mux.HandleFunc("POST /response/{id}", s.respond)
	s.srv = httptest.NewServer(mux)
	return s
}

// APIURL is the Web API's base URL, ending in "/api/".
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// ResponseURLBase is where the fake's response URLs live, ending in
// "/response/": the slack.Config.ResponseURLBase (TENURE_SLACK_RESPONSE_URL_BASE)
// that lets an app reply through them.
func (s *Server) ResponseURLBase() string { return s.srv.URL + "/response/" }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// DropField makes every later ok answer of method leave out a top-level field
// ("channel" of conversations.open, say), as a broken proxy in front of Slack
// might, so a test can check that the app copes with an answer that lacks it.
func (s *Server) DropField(method, field string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped[method] = append(s.dropped[method], field)
}

// Calls returns the calls received, of the given methods only when any are named.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || slices.Contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// Responses returns what apps posted to response URLs, in order.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.responses)
}

// DMChannel is the ID of the direct message channel between the bot and a user,
// once conversations.open has opened it, or "".
func (s *Server) DMChannel(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dms[userID]
}

// Message returns a posted message's current blocks, and false when there is none.
func (s *Server) Message(channel, ts string) ([]map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.find(channel, ts); m != nil {
		return m.blocks, true
	}
	return nil, false
}

func (s *Server) find(channel, ts string) *message {
	for _, m := range s.messages[channel] {
		if m.ts == ts {
			return m
		}
	}
	return nil
}

// user finds a member, configured or created through SCIM; s.mu is held.
func (s *Server) user(pred func(User) bool) (User, bool) {
	for _, u := range s.cfg.Users {
		if pred(u) {
			return u, true
		}
	}
	for _, su := range s.scimUsers {
		u := User{ID: su.ID, Email: su.Email, Name: su.UserName}
		if !su.seeded && pred(u) {
			return u, true
		}
	}
	return User{}, false
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%06d", prefix, s.seq)
}

// api answers one Web API method.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	args, token, errCode := parseArgs(r)
	call := Call{Method: method, Args: args, At: time.Now()}
	if s.rateLimited(w, method, &call) {
		return
	}
	isAdmin := s.cfg.AdminToken != "" && hmac.Equal([]byte(token), []byte(s.cfg.AdminToken))
	var result map[string]any
	switch {
	case errCode != "":
	case token == "":
		errCode = "not_authed"
	case !isAdmin && !hmac.Equal([]byte(token), []byte(s.cfg.Token)):
		errCode = "invalid_auth"
	case strings.HasPrefix(method, "admin.") && !isAdmin:
		// A bot token never carries admin scopes.
		errCode = "not_allowed_token_type"
	default:
		s.mu.Lock()
		result, errCode = s.dispatch(method, args, &call)
		s.mu.Unlock()
	}
	call.Error = errCode
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	if errCode != "" {
		result = map[string]any{"ok": false, "error": errCode}
	} else {
		result["ok"] = true
		s.mu.Lock()
		for _, f := range s.dropped[method] {
			delete(result, f)
		}
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(result)
}

// parseArgs reads a form or JSON body (and the query string), and the token:
// a bearer token, or for forms a token field. A JSON body needs the header.
func parseArgs(r *http.Request) (args map[string]string, token, errCode string) {
	args = map[string]string{}
	if auth := r.Header.Get("Authorization"); auth != "" {
		t, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return args, "", "invalid_auth"
		}
		token = t
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method == http.MethodPost && ct == "application/json" {
		var body map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			return args, token, "invalid_json"
		}
		for k, v := range body {
			if str, ok := v.(string); ok {
				args[k] = str
			} else {
				b, _ := json.Marshal(v)
				args[k] = string(b)
			}
		}
		if token == "" && args["token"] != "" {
			// Slack does not read a token from a JSON body.
			return args, "", "not_authed"
		}
	} else {
		if err := r.ParseForm(); err != nil {
			return args, token, "invalid_form_data"
		}
		for k := range r.Form {
			args[k] = r.Form.Get(k)
		}
		if token == "" {
			token = args["token"]
		}
	}
	delete(args, "token")
	return args, token, ""
}

// dispatch runs a method against the workspace's state; s.mu is held.
func (s *Server) dispatch(method string, args map[string]string, call *Call) (map[string]any, string) {
	switch method {
	case "users.lookupByEmail":
		u, ok := s.user(func(u User) bool { return strings.EqualFold(u.Email, args["email"]) && args["email"] != "" })
		if !ok {
			return nil, "users_not_found"
		}
		return map[string]any{"user": userJSON(u)}, ""
	case "users.info":
		u, ok := s.user(func(u User) bool { return u.ID == args["user"] })
		if !ok {
			return nil, "user_not_found"
		}
		return map[string]any{"user": userJSON(u)}, ""
	case "conversations.open":
		ids := strings.Split(args["users"], ",")
		if args["users"] == "" || len(ids) != 1 {
			return nil, "users_list_not_supplied"
		}
		if _, ok := s.user(func(u User) bool { return u.ID == ids[0] }); !ok {
			return nil, "user_not_found"
		}
		ch, ok := s.dms[ids[0]]
		if !ok {
			ch = s.nextID("D")
			s.dms[ids[0]] = ch
			s.messages[ch] = nil
		}
		return map[string]any{"channel": map[string]any{"id": ch}, "already_open": ok}, ""
	case "chat.postMessage", "chat.postEphemeral", "chat.update":
		return s.chat(method, args, call)
	case "views.open":
		return s.openView(args, call)
	case "admin.users.session.reset":
		id := args["user_id"]
		if id == "" {
			return nil, "invalid_arguments"
		}
		if s.scimByID(id) == nil {
			return nil, "user_not_found"
		}
		s.resets[id]++
		return map[string]any{}, ""
	}
	return nil, "unknown_method"
}

// rateLimited answers a call to a method under an injected rate limit as Slack
// does, and records it.
func (s *Server) rateLimited(w http.ResponseWriter, method string, call *Call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.methodLimits[method]
	if l == nil || l.n <= 0 {
		return false
	}
	l.n--
	call.Error = "ratelimited"
	s.calls = append(s.calls, *call)
	w.Header().Set("Retry-After", strconv.Itoa(int(l.retryAfter.Seconds())))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
	return true
}

func userJSON(u User) map[string]any {
	return map[string]any{
		"id": u.ID, "team_id": TeamID, "name": u.Name, "real_name": u.Name, "is_bot": false,
		"profile": map[string]any{"email": u.Email, "real_name": u.Name, "display_name": u.Name},
	}
}

// channel resolves a channel argument: a channel the bot is in, or a user ID,
// which Slack takes as the user's DM with the app.
func (s *Server) channel(id string) (string, string) {
	if id == "" {
		return "", "channel_not_found"
	}
	if _, ok := s.messages[id]; ok {
		return id, ""
	}
	if _, ok := s.user(func(u User) bool { return u.ID == id }); ok {
		ch, ok := s.dms[id]
		if !ok {
			ch = s.nextID("D")
			s.dms[id] = ch
			s.messages[ch] = nil
		}
		return ch, ""
	}
	if strings.HasPrefix(id, "C") {
		return "", "not_in_channel"
	}
	return "", "channel_not_found"
}

func (s *Server) chat(method string, args map[string]string, call *Call) (map[string]any, string) {
	ch, errCode := s.channel(args["channel"])
	if errCode != "" {
		return nil, errCode
	}
	if raw := args["blocks"]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &call.Blocks); err != nil || len(call.Blocks) > 50 {
			return nil, "invalid_blocks"
		}
		for _, b := range call.Blocks {
			if _, ok := b["type"].(string); !ok {
				return nil, "invalid_blocks"
			}
		}
	}
	if args["text"] == "" && len(call.Blocks) == 0 && method != "chat.update" {
		return nil, "no_text"
	}
	switch method {
	case "chat.postMessage":
		if t := args["thread_ts"]; t != "" && s.find(ch, t) == nil {
			return nil, "thread_not_found"
		}
		m := &message{ts: s.ts(), text: args["text"], blocks: call.Blocks}
		s.messages[ch] = append(s.messages[ch], m)
		call.Channel, call.TS = ch, m.ts
		return map[string]any{"channel": ch, "ts": m.ts, "message": map[string]any{"type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks}}, ""
	case "chat.postEphemeral":
		if _, ok := s.user(func(u User) bool { return u.ID == args["user"] }); !ok {
			return nil, "user_not_found"
		}
		return map[string]any{"message_ts": s.ts()}, ""
	default: // chat.update
		m := s.find(ch, args["ts"])
		if m == nil {
			return nil, "message_not_found"
		}
		if _, ok := args["text"]; ok {
			m.text = args["text"]
		}
		if _, ok := args["blocks"]; ok {
			m.blocks = call.Blocks
		}
		call.Channel, call.TS = ch, m.ts
		return map[string]any{"channel": ch, "ts": m.ts, "text": m.text}, ""
	}
}

// ts makes a message timestamp, unique within the workspace like Slack's.
func (s *Server) ts() string {
	s.seq++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), s.seq)
}

func (s *Server) openView(args map[string]string, call *Call) (map[string]any, string) {
	tr, ok := s.triggers[args["trigger_id"]]
	switch {
	case args["trigger_id"] == "" || !ok:
		return nil, "invalid_trigger_id"
	case tr.used:
		return nil, "exchanged_trigger_id"
	case time.Since(tr.issued) > triggerLifetime:
		return nil, "expired_trigger_id"
	}
	if err := json.Unmarshal([]byte(args["view"]), &call.View); err != nil || call.View["type"] != "modal" {
		return nil, "invalid_arguments"
	}
	if title, _ := call.View["title"].(map[string]any); title == nil || len(fmt.Sprint(title["text"])) > 24 {
		return nil, "invalid_arguments"
	}
	tr.used = true
	v := &view{id: s.nextID("V"), user: tr.user, body: call.View}
	s.views = append(s.views, v)
	out := map[string]any{"id": v.id, "team_id": TeamID}
	for k, x := range call.View {
		out[k] = x
	}
	return map[string]any{"view": out}, ""
}

// respond records a post to a response URL; Slack allows five per URL.
func (s *Server) respond(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.urls[r.PathValue("id")]
	if !ok || u.uses >= 5 {
		http.Error(w, "expired_url", http.StatusNotFound)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	u.uses++
	s.responses = append(s.responses, Response{UserID: u.user, Body: body, At: time.Now()})
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
}

// Sign returns Slack's v0 signature of body sent at ts with secret.
func Sign(secret string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:", ts.Unix())
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// Deliver sends payload to an app's interactivity URL as Slack does: the JSON
// as the payload field of a form, signed with the signing secret now.
func (s *Server) Deliver(ctx context.Context, target string, payload any) (Delivery, error) {
	js, err := json.Marshal(payload)
	if err != nil {
		return Delivery{}, err
	}
	body := []byte(url.Values{"payload": {string(js)}}.Encode())
	now := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Delivery{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("X-Slack-Signature", Sign(s.cfg.SigningSecret, now, body))
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Delivery{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return Delivery{Status: resp.StatusCode, Body: b, Elapsed: time.Since(start)}, err
}

func randomID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// issue makes a trigger ID and a response URL for an interaction by user.
func (s *Server) issue(user string) (triggerID, responseURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	triggerID = randomID("13345224609.738474920.")
	s.triggers[triggerID] = &trigger{user: user, issued: time.Now()}
	id := randomID("")
	s.urls[id] = &hookURL{user: user}
	return triggerID, s.ResponseURLBase() + id
}

func (s *Server) userJSON(id string) (map[string]any, error) {
	s.mu.Lock()
	u, ok := s.user(func(u User) bool { return u.ID == id })
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("slacktest: no user %q in the workspace", id)
	}
	return map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": TeamID}, nil
}

// Click presses the button with actionID on the message at channel and ts, as
// userID, and sends the block_actions payload to target. It fails when the
// message has no such button (after a decision removed it, say), as a person
// could not press it either.
func (s *Server) Click(ctx context.Context, target, userID, channel, ts, actionID string) (Delivery, error) {
	s.mu.Lock()
	m := s.find(channel, ts)
	var (
		btn   Button
		found bool
	)
	if m != nil {
		for _, b := range buttons(m.blocks) {
			if b.ActionID == actionID {
				btn, found = b, true
				break
			}
		}
	}
	var msg map[string]any
	if m != nil {
		msg = map[string]any{"type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks}
	}
	s.mu.Unlock()
	if !found {
		return Delivery{}, fmt.Errorf("slacktest: message %s/%s has no button %q", channel, ts, actionID)
	}
	user, err := s.userJSON(userID)
	if err != nil {
		return Delivery{}, err
	}
	triggerID, responseURL := s.issue(userID)
	payload := map[string]any{
		"type":         "block_actions",
		"team":         map[string]any{"id": TeamID, "domain": "tenure-test"},
		"user":         user,
		"api_app_id":   "A0TENURE",
		"token":        "verification-token-unused",
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
		"trigger_id":   triggerID,
		"channel":      map[string]any{"id": channel, "name": "directmessage"},
		"message":      msg,
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": responseURL,
		"actions": []any{map[string]any{
			"action_id": btn.ActionID, "block_id": btn.BlockID, "value": btn.Value, "type": "button",
			"style": btn.Style, "text": map[string]any{"type": "plain_text", "text": btn.Text, "emoji": true},
			"action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000),
		}},
	}
	return s.Deliver(ctx, target, payload)
}

// Submit submits the modal most recently opened for userID with the given input
// values (block ID -> action ID -> text), and sends the view_submission payload
// to target. It fails when no modal is open for the user.
func (s *Server) Submit(ctx context.Context, target, userID string, values map[string]map[string]string) (Delivery, error) {
	s.mu.Lock()
	var v *view
	for i := len(s.views) - 1; i >= 0; i-- {
		if s.views[i].user == userID {
			v = s.views[i]
			s.views = slices.Delete(s.views, i, i+1)
			break
		}
	}
	s.mu.Unlock()
	if v == nil {
		return Delivery{}, fmt.Errorf("slacktest: no modal is open for %s", userID)
	}
	user, err := s.userJSON(userID)
	if err != nil {
		return Delivery{}, err
	}
	state := map[string]any{}
	for block, actions := range values {
		m := map[string]any{}
		for action, text := range actions {
			m[action] = map[string]any{"type": "plain_text_input", "value": text}
		}
		state[block] = m
	}
	body := map[string]any{}
	for k, x := range v.body {
		body[k] = x
	}
	body["id"], body["team_id"], body["state"] = v.id, TeamID, map[string]any{"values": state}
	body["hash"] = randomID("")
	triggerID, _ := s.issue(userID)
	payload := map[string]any{
		"type":          "view_submission",
		"team":          map[string]any{"id": TeamID, "domain": "tenure-test"},
		"user":          user,
		"api_app_id":    "A0TENURE",
		"token":         "verification-token-unused",
		"trigger_id":    triggerID,
		"view":          body,
		"response_urls": []any{},
	}
	return s.Deliver(ctx, target, payload)
}
