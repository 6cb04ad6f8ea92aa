// Package csvsafe makes cells safe to open in a spreadsheet: a cell that begins
// with =, +, - or @ (or a tab or carriage return) would run as a formula, so it is
// prefixed with a single quote (OWASP's advice on CSV injection).
package csvsafe

// Cell returns s, neutralised when a spreadsheet would treat it as a formula.
func Cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// Row neutralises every cell of a row.
func Row(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = Cell(c)
	}
	return out
}
