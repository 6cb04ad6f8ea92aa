package intake

import (
	"fmt"

	"github.com/tenure-io/tenure"
)

// Problems collects what is wrong with a request, so a caller learns every problem
// at once. Only the first problem per field is kept: a field that failed to decode
// is not also reported as missing.
type Problems struct {
	list []tenure.FieldError
	seen map[string]bool
}

// Add records a problem with a field; only the first per field is kept.
func (p *Problems) Add(field, problem string) {
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if p.seen[field] {
		return
	}
	p.seen[field] = true
	p.list = append(p.list, tenure.FieldError{Field: field, Problem: problem})
}

// Addf is Add with a formatted problem.
func (p *Problems) Addf(field, format string, args ...any) {
	p.Add(field, fmt.Sprintf(format, args...))
}

// Has reports whether field already has a problem.
func (p *Problems) Has(field string) bool { return p.seen[field] }

// Err is nil when nothing is wrong, else an EINVALID error listing every field.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return tenure.Invalid(p.list...)
}

// List returns the problems found, in the order they were added.
func (p *Problems) List() []tenure.FieldError { return p.list }
