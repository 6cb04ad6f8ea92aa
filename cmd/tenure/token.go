package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/api"
)

const tokenUsage = `Usage:
  tenure token create --name NAME --role ROLE [--employee-id ID] [--expires 720h]
  tenure token list
  tenure token revoke ID

Manages API tokens in the database directly, so it works before any token exists.
The database is DIR/tenure.db with --data-dir DIR (the dev store), or else
DATABASE_URL (postgres://... or sqlite:FILE). Roles: admin, hr, manager (needs
--employee-id: the manager's HR ID, which scopes what they see) and auditor.`

// runToken is `tenure token create|list|revoke`.
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, tokenUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newSubFlags("token "+sub, tokenUsage, stderr)
	dataDir := fs.String("data-dir", getenv("TENURE_DATA_DIR"), "the dev store's directory (`DIR`), holding tenure.db; env TENURE_DATA_DIR; else DATABASE_URL")
	var format logFormat
	if err := logFormatFlag(fs, getenv, &format); err != nil {
		return err
	}
	var (
		spec    api.TokenSpec
		expires time.Duration
	)
	switch sub {
	case "create":
		fs.StringVar(&spec.Name, "name", "", "what the token is for (required)")
		fs.StringVar(&spec.Role, "role", "", "admin, hr, manager or auditor (required)")
		fs.StringVar(&spec.EmployeeID, "employee-id", "", "the HR `ID` the token acts for; required for a manager")
		fs.DurationVar(&expires, "expires", 0, "how long the token works, such as 720h; 0 for until revoked")
	case "list", "revoke":
	default:
		fmt.Fprintln(stderr, tokenUsage)
		return fmt.Errorf("unknown token command %q: use create, list or revoke", sub)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Let flags follow the ID too: tenure token revoke tok_1 --data-dir .tenure.
	var positional []string
	for fs.NArg() > 0 {
		positional = append(positional, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	want := 0
	if sub == "revoke" {
		want = 1
	}
	if len(positional) != want {
		fs.Usage()
		return fmt.Errorf("tenure token %s takes %d argument(s), got %d", sub, want, len(positional))
	}
	if expires < 0 {
		return errors.New("--expires must not be negative")
	}

	now := time.Now().UTC()
	if expires > 0 {
		e := now.Add(expires)
		spec.ExpiresAt = &e
	}
	// Refuse a bad token before touching the database.
	if sub == "create" {
		if err := api.CheckTokenSpec(spec, now); err != nil {
			return flagProblems(err)
		}
	}
	dsn, err := storeDSN(*dataDir, getenv)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, dsn, newLogger(stderr, slog.LevelWarn, format))
	if err != nil {
		return err
	}
	defer db.Close()
	actor := "cli"
	if u := getenv("USER"); u != "" {
		actor += ":" + u
	}

	switch sub {
	case "create":
		plain, t, err := api.IssueToken(ctx, db, spec, actor, now)
		if err != nil {
			return flagProblems(err)
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(w, "id\t%s\nname\t%s\nrole\t%s\n", t.ID, t.Name, t.Role)
		if t.EmployeeID != "" {
			fmt.Fprintf(w, "employee\t%s\n", t.EmployeeID)
		}
		fmt.Fprintf(w, "expires\t%s\ntoken\t%s\n", when(t.ExpiresAt, "never"), plain)
		w.Flush()
		fmt.Fprintln(stdout, "\nThis is the only time the token is shown: Tenure keeps only its hash. Store it now.")
		if t.Role == tenure.RoleAdmin && *dataDir == "" {
			fmt.Fprint(stdout, bootstrapNote(t))
		}
		return nil
	case "list":
		list, err := db.ListTokens(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tROLE\tEMPLOYEE\tPREFIX\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
		for _, t := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, orDash(t.EmployeeID), t.Prefix,
				t.CreatedAt.Format(time.RFC3339), when(t.ExpiresAt, "never"), when(t.LastUsedAt, "never"), tokenStatus(t, now))
		}
		return w.Flush()
	default:
		t, err := api.RevokeToken(ctx, db, positional[0], actor, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s (%s, %s…) at %s\n", t.ID, t.Name, t.Prefix, t.RevokedAt.Format(time.RFC3339))
		return nil
	}
}

// bootstrapNote tells whoever made an admin token that the bootstrap token can
// go: `tenure api` starts without TENURE_ADMIN_TOKEN while the database holds an
// active admin token (needAdminToken). The dev store keeps its own, DIR/admin.token.
func bootstrapNote(t tenure.APIToken) string {
	note := "\nThe bootstrap token can now be removed: once this token works, unset TENURE_ADMIN_TOKEN;\n" +
		"tenure api starts without it while the database holds an active admin token.\n"
	if t.ExpiresAt != nil {
		note += "This one expires at " + t.ExpiresAt.Format(time.RFC3339) + ": issue the next admin token before then.\n"
	}
	return note
}

// storeDSN is the database that a command working on the store directly (tenure
// token, tenure audit) opens: the dev store under dataDir, or DATABASE_URL.
func storeDSN(dataDir string, getenv func(string) string) (string, error) {
	if dataDir != "" {
		path := filepath.Join(dataDir, "tenure.db")
		// Opening a missing file would create an empty store that no server reads.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("there is no Tenure store at %s: run tenure dev --data-dir %s once first", path, dataDir)
		}
		return "sqlite:" + path, nil
	}
	if dsn := getenv("DATABASE_URL"); dsn != "" {
		return dsn, nil
	}
	return "", errors.New("name the database: --data-dir DIR for the dev store (e.g. --data-dir .tenure), or DATABASE_URL")
}

// flagProblems words an invalid-token error with the CLI's flag names.
func flagProblems(err error) error {
	var te *tenure.Error
	if !errors.As(err, &te) || len(te.Fields) == 0 {
		return err
	}
	flags := map[string]string{"name": "--name", "role": "--role", "employee_id": "--employee-id", "expires_at": "--expires"}
	var b strings.Builder
	for _, f := range te.Fields {
		name := f.Field
		if fl, ok := flags[name]; ok {
			name = fl
		}
		fmt.Fprintf(&b, "\n  %s %s", name, f.Problem)
	}
	return fmt.Errorf("the token is invalid:%s", b.String())
}

func tokenStatus(t tenure.APIToken, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case !t.Active(now):
		return "expired"
	}
	return "active"
}

func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
