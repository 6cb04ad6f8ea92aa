package csvsafe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")",
		"+1":                       "'+1",
		"-2+3":                     "'-2+3",
		"@SUM(A1)":                 "'@SUM(A1)",
		"\t=1":                     "'\t=1",
		"\rAda":                    "'\rAda",
		"Ada":                      "Ada",
		"":                         "",
		"a=b":                      "a=b",
		"   ":                      "   ",
		"  Ada":                    "  Ada",
		"Ada ＝1":                   "Ada ＝1",
		// Full-width triggers.
		"＝HYPERLINK(\"http://x\")": "'＝HYPERLINK(\"http://x\")",
		"＋1":                       "'＋1",
		"－2":                       "'－2",
		"＠SUM(A1)":                 "'＠SUM(A1)",
		// Whitespace before a trigger, ASCII or full-width.
		" =1":             "' =1",
		"   +1":           "'   +1",
		"\n-1":            "'\n-1",
		"\r\n@SUM(A1)":    "'\r\n@SUM(A1)",
		"\u00a0=1":        "'\u00a0=1",
		"\u2003\u3000=1":  "'\u2003\u3000=1",
		"\u200b=1":        "'\u200b=1",
		"\ufeff\u00a0＝1":  "'\ufeff\u00a0＝1",
		"\v\f\u0085＠x":    "'\v\f\u0085＠x",
		"\u2028\u2029－1":  "'\u2028\u2029－1",
		"\u202f\u205f＋1":  "'\u202f\u205f＋1",
		" \u00a0 \t =cmd": "' \u00a0 \t =cmd",
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// triggers are the characters that start a formula, in both widths.
const triggers = "=+-@＝＋－＠"

// FuzzCell checks that no cell comes out starting a formula: after Cell, a cell
// whose first character that is not blank is a trigger starts with a quote,
// and a cell is only ever changed by that quote.
func FuzzCell(f *testing.F) {
	for _, s := range []string{
		"", "Ada", "=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "a=b",
		"＝1", "＋1", "－1", "＠x", " =1", "\n=1", "\r\n=1", "\u00a0=1", "\u3000＝1",
		"\u2000\u200a+1", "\u200b=1", "\ufeff=1", "\u2060@x", " \t\u00a0－1", "   ", "\u00a0",
		"\xff=1", " \xff=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Cell(s)
		if got != s && got != "'"+s {
			t.Fatalf("Cell(%q) = %q: changed by more than a leading quote", s, got)
		}
		rest := strings.TrimLeftFunc(s, func(r rune) bool {
			return unicode.IsSpace(r) || strings.ContainsRune("\u200b\u200c\u200d\u2060\ufeff", r)
		})
		if r, _ := utf8.DecodeRuneInString(rest); rest != "" && strings.ContainsRune(triggers, r) && got == s {
			t.Fatalf("Cell(%q) = %q: a formula after %d blank bytes", s, got, len(s)-len(rest))
		}
		if strings.HasPrefix(s, "\t") || strings.HasPrefix(s, "\r") {
			if got == s {
				t.Fatalf("Cell(%q) left a leading tab or carriage return", s)
			}
		}
	})
}
