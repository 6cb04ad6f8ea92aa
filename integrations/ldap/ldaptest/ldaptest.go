// Package ldaptest runs a real OpenLDAP server (slapd) for tests: a throwaway
// mdb database with the ppolicy overlay, so account locks work as in production,
// listening on free local ports for plain LDAP (with StartTLS) and LDAPS under a
// CA generated for the test. It seeds a base DN, a people OU, a groups OU, two
// groupOfNames groups and a service account with the minimal rights a connector
// needs (Server.AppConfig binds as it), and lets a test read and change the tree
// directly, so it checks the directory itself rather than only what the
// connector says.
//
// Start skips the test when slapd is not installed (Debian: apt-get install
// slapd ldap-utils), unless TENURE_REQUIRE_LDAP=1, when it fails instead.
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/tenure-io/tenure/integrations"
)

// The directory's fixed names.
const (
	BaseDN   = "dc=tenure,dc=test"
	BindDN   = "cn=admin," + BaseDN
	Password = "tenure-ldap-admin-secret"
	UsersDN  = "ou=people," + BaseDN
	GroupsDN = "ou=groups," + BaseDN
	// PolicyDN is the default password policy, which makes ppolicy enforce
	// pwdAccountLockedTime on binds.
	PolicyDN = "cn=default,ou=policies," + BaseDN
	// ServiceDN is a service account as a connector should have it: not the
	// root DN, so access controls and limits apply; it may write under the users
	// and groups OUs, and its searches stop at ServiceSizeLimit entries unless
	// they are paged (RFC 2696), as on a production server.
	ServiceDN       = "cn=tenure,ou=services," + BaseDN
	ServicePassword = "tenure-service-secret"
	// ReaderDN may read the tree but change nothing.
	ReaderDN       = "cn=reader,ou=services," + BaseDN
	ReaderPassword = "tenure-reader-secret"
)

// ServiceSizeLimit is how many entries an unpaged search by ServiceDN returns.
const ServiceSizeLimit = 10

// SeededGroups are the groupOfNames groups Start creates under GroupsDN.
var SeededGroups = []string{"engineering", "vpn-users"}

// Placeholder is the member value an otherwise empty groupOfNames holds: the
// schema requires a member, and the empty DN names no entry.
const Placeholder = ""

// Server is a running slapd.
type Server struct {
	URL      string // ldap://127.0.0.1:<port>, which also offers StartTLS
	LDAPSURL string // ldaps://127.0.0.1:<port>
	CAFile   string // PEM of the CA that signed the server's certificate
	BaseDN   string
	BindDN   string // the root DN; connectors should use ServiceDN
	Password string
	UsersDN  string
	GroupsDN string

	t    testing.TB
	mu   sync.Mutex
	conn *goldap.Conn
}

// Paths to look for, in order, on Debian and Ubuntu, Fedora and Homebrew.
var (
	slapdPaths  = []string{"/usr/sbin/slapd", "/usr/libexec/slapd", "/opt/homebrew/opt/openldap/libexec/slapd"}
	schemaDirs  = []string{"/etc/ldap/schema", "/etc/openldap/schema", "/opt/homebrew/etc/openldap/schema"}
	moduleDirs  = []string{"/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/libexec/openldap"}
	startupWait = 15 * time.Second
)

// Options change the server Start runs.
type Options struct {
	// NoPpolicy leaves the ppolicy overlay out, as on a directory where
	// accounts cannot be locked.
	NoPpolicy bool
	// IdleTimeout, when set, makes slapd close connections idle that long, as
	// production servers and load balancers do.
	IdleTimeout time.Duration
}

// Start runs slapd for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	slapd, schema, modules, missing := find()
	if missing != "" {
		if os.Getenv("TENURE_REQUIRE_LDAP") == "1" {
			t.Fatalf("ldaptest: %s, and TENURE_REQUIRE_LDAP=1 (apt-get install slapd ldap-utils)", missing)
		}
		t.Skipf("ldaptest: %s; install slapd (apt-get install slapd ldap-utils) to run this test", missing)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCerts(t, dir)
	var lastErr error
	// A free port found by listening can be taken again before slapd binds it,
	// so a failed start is tried again on new ports.
	for range 3 {
		s, err := start(t, dir, slapd, schema, modules, caFile, certFile, keyFile, opts)
		if err == nil {
			s.seed(opts)
			return s
		}
		lastErr = err
	}
	t.Fatalf("ldaptest: slapd did not start: %v", lastErr)
	return nil
}

func find() (slapd, schema, modules, missing string) {
	slapd = firstExisting(slapdPaths, "")
	if p := os.Getenv("TENURE_SLAPD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", "", "", "TENURE_SLAPD " + p + " does not exist"
		}
		slapd = p
	}
	schema = firstExisting(schemaDirs, "inetorgperson.schema")
	modules = firstExisting(moduleDirs, "")
	switch {
	case slapd == "":
		return "", "", "", "slapd is not installed"
	case schema == "":
		return "", "", "", "OpenLDAP's schema files are not installed"
	}
	return slapd, schema, modules, ""
}

func firstExisting(dirs []string, inside string) string {
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, inside)); err == nil {
			return d
		}
	}
	return ""
}

func start(t testing.TB, root, slapd, schema, modules, caFile, certFile, keyFile string, opts Options) (*Server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(root, "slapd")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(config(dir, schema, modules, caFile, certFile, keyFile, opts)), 0o600); err != nil {
		return nil, err
	}
	s := &Server{
		URL:      "ldap://127.0.0.1:" + strconv.Itoa(ports[0]),
		LDAPSURL: "ldaps://127.0.0.1:" + strconv.Itoa(ports[1]),
		CAFile:   caFile,
		BaseDN:   BaseDN, BindDN: BindDN, Password: Password, UsersDN: UsersDN, GroupsDN: GroupsDN,
		t: t,
	}
	// -d 32768 keeps slapd in the foreground, as this process's child, and
	// prints only its errors. slapd runs as whoever runs the tests (root in CI
	// containers is fine: without -u it does not try to switch users).
	var stderr bytes.Buffer
	cmd := exec.Command(slapd, "-f", conf, "-h", s.URL+"/ "+s.LDAPSURL+"/", "-d", "32768")
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(startupWait)
	for {
		conn, err := goldap.DialURL(s.URL, goldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
		if err == nil {
			if err = conn.Bind(BindDN, Password); err == nil {
				s.conn = conn
				break
			}
			conn.Close()
		}
		select {
		case werr := <-exited:
			exited <- werr
			stop()
			return nil, fmt.Errorf("slapd exited (%v): %s", werr, strings.TrimSpace(stderr.String()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("slapd did not answer within %s: %v; %s", startupWait, err, strings.TrimSpace(stderr.String()))
		}
	}
	t.Cleanup(func() {
		s.mu.Lock()
		s.conn.Close()
		s.mu.Unlock()
		stop()
	})
	return s, nil
}

// config is slapd.conf for a throwaway server: the schemas inetOrgPerson needs,
// an mdb database whose root DN is the bind DN, and the ppolicy overlay (whose
// schema OpenLDAP 2.5 and later build in) with a default policy.
func config(dir, schema, modules, caFile, certFile, keyFile string, opts Options) string {
	var b strings.Builder
	for _, s := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&b, "include %s\n", filepath.Join(schema, s+".schema"))
	}
	if modules != "" {
		fmt.Fprintf(&b, "modulepath %s\n", modules)
		// Distributions that build mdb into slapd ship no module for it.
		if _, err := os.Stat(filepath.Join(modules, "back_mdb.la")); err == nil {
			b.WriteString("moduleload back_mdb\n")
		}
		if !opts.NoPpolicy {
			b.WriteString("moduleload ppolicy\n")
		}
	}
	if opts.IdleTimeout > 0 {
		fmt.Fprintf(&b, "idletimeout %d\n", max(1, int(opts.IdleTimeout.Seconds())))
	}
	fmt.Fprintf(&b, "pidfile %s\nargsfile %s\n", filepath.Join(dir, "slapd.pid"), filepath.Join(dir, "slapd.args"))
	fmt.Fprintf(&b, "TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n", caFile, certFile, keyFile)
	fmt.Fprintf(&b, "database mdb\nmaxsize 67108864\nsuffix %q\nrootdn %q\nrootpw %s\ndirectory %s\n",
		BaseDN, BindDN, Password, filepath.Join(dir, "data"))
	b.WriteString("index objectClass eq\nindex uid,mail,employeeNumber,member,cn eq\n")
	fmt.Fprintf(&b, "limits dn.exact=%q size.soft=%d size.hard=%d size.prtotal=unlimited\n",
		ServiceDN, ServiceSizeLimit, ServiceSizeLimit)
	// The service account's rights are those docs/connectors/ldap.md gives as
	// the minimum: write under the people OU, write on groups' member only.
	b.WriteString("access to attrs=userPassword by self write by anonymous auth by * none\n")
	fmt.Fprintf(&b, "access to dn.subtree=%q by dn.exact=%q write by * break\n", UsersDN, ServiceDN)
	fmt.Fprintf(&b, "access to dn.subtree=%q attrs=member by dn.exact=%q write by * break\n", GroupsDN, ServiceDN)
	b.WriteString("access to * by * read\n")
	if !opts.NoPpolicy {
		fmt.Fprintf(&b, "overlay ppolicy\nppolicy_default %q\n", PolicyDN)
	}
	return b.String()
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// seed adds the base entry, the OUs, the default password policy and the
// seeded groups.
func (s *Server) seed(opts Options) {
	s.t.Helper()
	entries := []struct {
		dn    string
		attrs map[string][]string
	}{
		{BaseDN, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"tenure"}, "o": {"Tenure test"}}},
		{UsersDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}}},
		{GroupsDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}}},
		{"ou=policies," + BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"policies"}}},
		{"ou=services," + BaseDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"services"}}},
		{ServiceDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"},
			"cn": {"tenure"}, "userPassword": {ServicePassword}}},
		{ReaderDN, map[string][]string{"objectClass": {"organizationalRole", "simpleSecurityObject"},
			"cn": {"reader"}, "userPassword": {ReaderPassword}}},
		{PolicyDN, map[string][]string{
			"objectClass":  {"organizationalRole", "pwdPolicy"},
			"cn":           {"default"},
			"pwdAttribute": {"userPassword"},
			"pwdLockout":   {"TRUE"},
		}},
	}
	if opts.NoPpolicy {
		entries = entries[:len(entries)-1] // pwdPolicy is the overlay's class
	}
	for _, e := range entries {
		if err := s.Add(e.dn, e.attrs); err != nil {
			s.t.Fatalf("ldaptest: seed %s: %v", e.dn, err)
		}
	}
	for _, g := range SeededGroups {
		s.CreateGroup(g)
	}
}

// AppConfig is an ldap app named name that binds to this server as the service
// account over plain LDAP, with both users_dn and groups_dn set: what a policy
// with these keys gives the connector's factory.
func (s *Server) AppConfig(name string) integrations.AppConfig {
	return integrations.AppConfig{
		Name: name, Connector: "ldap", BaseURL: s.URL,
		Params: map[string]string{
			"url": s.URL, "bind_dn": ServiceDN, "users_dn": s.UsersDN, "groups_dn": s.GroupsDN,
		},
		Secrets: map[string]string{"password": ServicePassword},
	}
}

// Add adds an entry as the administrator.
func (s *Server) Add(dn string, attrs map[string][]string) error {
	req := goldap.NewAddRequest(dn, nil)
	for name, values := range attrs {
		req.Attribute(name, values)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.Add(req)
}

// Modify applies a modification as the administrator.
func (s *Server) Modify(req *goldap.ModifyRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.Modify(req)
}

// GroupDN is the DN of the group named name under GroupsDN.
func (s *Server) GroupDN(name string) string {
	return "cn=" + goldap.EscapeDN(name) + "," + GroupsDN
}

// CreateGroup adds a groupOfNames named name under GroupsDN with the given member
// DNs, or with only the placeholder member when there are none, and returns its DN.
func (s *Server) CreateGroup(name string, members ...string) string {
	s.t.Helper()
	if len(members) == 0 {
		members = []string{Placeholder}
	}
	dn := s.GroupDN(name)
	if err := s.Add(dn, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {name}, "member": members}); err != nil {
		s.t.Fatalf("ldaptest: create group %s: %v", name, err)
	}
	return dn
}

// Entry reads the entry at dn with its user and operational attributes, as the
// administrator; it returns nil when there is no such entry.
func (s *Server) Entry(dn string) map[string][]string {
	s.t.Helper()
	s.mu.Lock()
	res, err := s.conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"*", "+"}, nil))
	s.mu.Unlock()
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		s.t.Fatalf("ldaptest: read %s: %v", dn, err)
	}
	if len(res.Entries) == 0 {
		return nil
	}
	out := map[string][]string{}
	for _, a := range res.Entries[0].Attributes {
		out[a.Name] = a.Values
	}
	return out
}

// Attr returns the values of one attribute of the entry at dn (nil when the
// entry or the attribute is missing). Names are matched case-insensitively.
func (s *Server) Attr(dn, name string) []string {
	s.t.Helper()
	for k, v := range s.Entry(dn) {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// Members returns the member values of the group named name.
func (s *Server) Members(name string) []string {
	s.t.Helper()
	return s.Attr(s.GroupDN(name), "member")
}

// Search returns the DNs of the entries under base that match filter.
func (s *Server) Search(base, filter string) []string {
	s.t.Helper()
	s.mu.Lock()
	res, err := s.conn.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		0, 0, false, filter, []string{"1.1"}, nil))
	s.mu.Unlock()
	if err != nil {
		s.t.Fatalf("ldaptest: search %s %s: %v", base, filter, err)
	}
	var dns []string
	for _, e := range res.Entries {
		dns = append(dns, e.DN)
	}
	return dns
}

// Rename gives the entry at dn the new RDN newRDN, keeping it where it is.
func (s *Server) Rename(dn, newRDN string) {
	s.t.Helper()
	s.mu.Lock()
	err := s.conn.ModifyDN(goldap.NewModifyDNRequest(dn, newRDN, true, ""))
	s.mu.Unlock()
	if err != nil {
		s.t.Fatalf("ldaptest: rename %s: %v", dn, err)
	}
}

// SetPassword gives the entry at dn a password, so a test can bind as it.
func (s *Server) SetPassword(dn, password string) {
	s.t.Helper()
	mod := goldap.NewModifyRequest(dn, nil)
	mod.Replace("userPassword", []string{password})
	if err := s.Modify(mod); err != nil {
		s.t.Fatalf("ldaptest: set password of %s: %v", dn, err)
	}
}

// Bind binds as dn with password on a new connection: nil when the directory
// lets that person in. A locked account gets invalidCredentials.
func (s *Server) Bind(dn, password string) error {
	conn, err := goldap.DialURL(s.URL)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Bind(dn, password)
}

// writeCerts makes a CA and a certificate for 127.0.0.1 and localhost signed by
// it, and writes them as PEM files into dir.
func writeCerts(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ldaptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	certFile = filepath.Join(dir, "server.pem")
	keyFile = filepath.Join(dir, "server.key")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// IsLocked reports whether the entry at dn carries a ppolicy lock.
func (s *Server) IsLocked(dn string) bool {
	s.t.Helper()
	return len(s.Attr(dn, "pwdAccountLockedTime")) > 0
}
