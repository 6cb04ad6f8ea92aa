// Package csvsafe makes cells safe to open in a spreadsheet: a cell that begins
// with =, +, - or @ (or a tab or carriage return) would run as a formula, so it is
// prefixed with a single quote (OWASP's advice on CSV injection). Spreadsheets
// also take the full-width forms of those characters (＝ ＋ － ＠) as the ASCII
// ones, and skip leading whitespace before deciding, so a trigger in either form
// after any run of whitespace, line breaks, no-break or zero-width spaces counts
// too.
package csvsafe

import (
	"strings"
	"unicode"
)

// Cell returns s, neutralised when a spreadsheet would treat it as a formula.
func Cell(s string) string {
	if s == "" {
		return s
	}
	if s[0] == '\t' || s[0] == '\r' {
		return "'" + s
	}
	rest := strings.TrimLeftFunc(s, blank)
	if rest == "" {
		return s
	}
	switch rest[0] {
	case '=', '+', '-', '@':
		return "'" + s
	}
	for _, t := range []string{"＝", "＋", "－", "＠"} {
		if strings.HasPrefix(rest, t) {
			return "'" + s
		}
	}
	return s
}

// blank reports whether a spreadsheet may skip r before a formula: Unicode white
// space (spaces, tabs, line breaks, NBSP, the U+2000 spaces, U+3000) and the
// zero-width characters that render as nothing.
func blank(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return true
	}
	return unicode.IsSpace(r)
}

// Row neutralises every cell of a row.
func Row(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = Cell(c)
	}
	return out
}
