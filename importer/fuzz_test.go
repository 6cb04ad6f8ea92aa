package importer

import (
	"strings"
	"testing"

	"github.com/tenure-io/tenure"
	"github.com/tenure-io/tenure/intake"
)

// FuzzParse feeds the parser arbitrary files: it must never panic, and whatever
// it lets through must be an event intake accepts, at a line inside the file.
// The seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add("type,employee_id,email,given_name,family_name\nhire,E1,ada@example.com,Ada,Lovelace\n")
	f.Add("\ufefftype,employee_id,email,attr.level\n\"update\",E2,\"g@example.com\",\"L\"\"5\"\n")
	f.Fuzz(func(t *testing.T, data string) {
		file, err := Parse(strings.NewReader(data), "fuzz.csv")
		if err != nil {
			if tenure.ErrorCode(err) != tenure.EINVALID {
				t.Fatalf("Parse error %v is not EINVALID", err)
			}
			return
		}
		lines := strings.Count(data, "\n") + 1
		if file.Total != len(file.Rows)+file.InvalidRows {
			t.Fatalf("total %d != %d valid + %d invalid", file.Total, len(file.Rows), file.InvalidRows)
		}
		if (file.InvalidRows == 0) != (len(file.Problems) == 0) || (file.Err() == nil) != (len(file.Problems) == 0) {
			t.Fatalf("%d invalid rows but %d problems", file.InvalidRows, len(file.Problems))
		}
		seen := map[string]bool{}
		for _, r := range file.Rows {
			if err := intake.ValidateEvent(r.Event); err != nil {
				t.Fatalf("line %d passed but intake refuses it: %v", r.Line, err)
			}
			if r.Event.ID == "" || seen[r.Event.ID] {
				t.Fatalf("line %d has an empty or repeated event ID %q", r.Line, r.Event.ID)
			}
			seen[r.Event.ID] = true
			if r.Line < 2 || r.Line > lines {
				t.Fatalf("row at line %d of a %d-line file", r.Line, lines)
			}
		}
		for _, p := range file.Problems {
			if p.Line < 1 || p.Line > lines || p.Problem == "" {
				t.Fatalf("problem %+v outside a %d-line file", p, lines)
			}
		}
	})
}
