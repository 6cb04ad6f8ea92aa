package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	yamlparser "github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// This file reads the YAML syntax tree. The policy is walked node by node,
// rather than decoded into structs, because every problem must be reported with
// its line and all of them at once, where a decoder stops at the first.

// document parses data and returns its one document's root, or nil after
// reporting why there is none.
func (p *parser) document(data []byte) ast.Node {
	file, err := parseYAML(data)
	if err != nil {
		// Not err.Error(): the library's Error quotes the source around the
		// fault, which takes long on a big file and repeats what the line says.
		var ye interface {
			GetToken() *token.Token
			GetMessage() string
		}
		line, reason := 0, ""
		if errors.As(err, &ye) {
			line, reason = tokenLine(ye.GetToken()), ye.GetMessage()
		} else {
			reason = err.Error()
		}
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Reason: "invalid YAML: " + reason})
		return nil
	}
	var roots []ast.Node
	for _, doc := range file.Docs {
		switch doc.Body.(type) {
		case nil, *ast.DirectiveNode, *ast.CommentGroupNode, *ast.CommentNode:
			// A %YAML directive comes back as a document of its own.
			continue
		}
		roots = append(roots, doc.Body)
	}
	if len(roots) == 0 {
		p.errs = append(p.errs, &Error{File: p.file, Line: 1, Reason: "the policy is empty; it needs at least version: 1"})
		return nil
	}
	// A second document would otherwise be ignored, and whatever it grants with it.
	for _, extra := range roots[1:] {
		p.errorf(extra, "a policy is one YAML document; remove this second one, or the --- before it")
	}
	return roots[0]
}

// parseYAML keeps a panic inside the YAML library from taking down the caller:
// a policy arrives from users, and a bad one must be an error. Duplicate keys
// are let through so that they are reported with the policy's other problems.
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("cannot parse the document (%v)", r)
		}
	}()
	tokens := lexer.Tokenize(string(data))
	if tk := tooDeep(tokens); tk != nil {
		return nil, &tooDeepError{tk}
	}
	return yamlparser.Parse(tokens, 0, yamlparser.AllowDuplicateMapKey())
}

// maxDepth bounds how deeply a policy may nest. The YAML parser's time grows
// with the square of the nesting, so a few kilobytes of brackets pasted into the
// console could hold it for minutes; a real policy nests about six deep.
const maxDepth = 64

// tooDeep returns the first token nested deeper than maxDepth, or nil. Flow
// collections count by their brackets; block collections by their indentation,
// with the entries of one collection at one column.
func tooDeep(tokens token.Tokens) *token.Token {
	flow := 0
	var block []int // the columns of the open block collections, increasing
	for _, tk := range tokens {
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(0, flow-1)
		case token.SequenceEntryType, token.MappingValueType:
			if flow > 0 || tk.Position == nil {
				continue
			}
			col := tk.Position.Column
			// A block key's column is where the key starts, not its colon.
			if k := tk.Prev; tk.Type == token.MappingValueType && k != nil && k.Position != nil && k.Position.Line == tk.Position.Line {
				col = k.Position.Column
			}
			for len(block) > 0 && block[len(block)-1] > col {
				block = block[:len(block)-1]
			}
			if len(block) == 0 || block[len(block)-1] < col {
				block = append(block, col)
			}
		}
		if flow+len(block) > maxDepth {
			return tk
		}
	}
	return nil
}

// tooDeepError reports a policy that nests deeper than maxDepth, as the YAML
// library reports its own syntax errors.
type tooDeepError struct{ tk *token.Token }

func (e *tooDeepError) Error() string          { return e.GetMessage() }
func (e *tooDeepError) GetToken() *token.Token { return e.tk }
func (e *tooDeepError) GetMessage() string {
	return fmt.Sprintf("the policy nests more than %d levels deep", maxDepth)
}

// line is where n starts, or 0 when the parser did not say.
func line(n ast.Node) int {
	if n == nil {
		return 0
	}
	return tokenLine(n.GetToken())
}

func tokenLine(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

// field is one key of a mapping and its value.
type field struct {
	key, val ast.Node
}

// resolve returns the value n stands for. An anchor is dropped: it is harmless
// while nothing may refer to it. An alias is refused, rather than followed, so
// that a small file cannot expand into a huge policy; tags are refused because
// a policy has no use for them and quoting says the same thing plainly.
func (p *parser) resolve(n ast.Node) (ast.Node, bool) {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.MappingKeyNode: // the explicit "? key" form
			n = v.Value
		case *ast.AliasNode:
			p.errorf(n, "anchors and aliases are not supported in a policy")
			return nil, false
		case *ast.TagNode:
			p.errorf(n, "YAML tags such as %s are not supported in a policy; quote the value instead", v.Start.Value)
			return nil, false
		default:
			return n, true
		}
	}
}

// mapping checks that n is a mapping with string keys from allowed (any key when
// allowed is empty), each once. A null value counts as an empty mapping.
func (p *parser) mapping(n ast.Node, what string, allowed ...string) (map[string]field, bool) {
	n, ok := p.resolve(n)
	if !ok {
		return nil, false
	}
	var entries []*ast.MappingValueNode
	switch v := n.(type) {
	case *ast.MappingNode:
		entries = v.Values
	case *ast.MappingValueNode:
		entries = []*ast.MappingValueNode{v}
	default:
		if isNull(n) {
			return map[string]field{}, true
		}
		p.errorf(n, "%s must be a mapping (key: value), not %s", what, describe(n))
		return nil, false
	}
	fields := make(map[string]field, len(entries))
	for _, e := range entries {
		if _, merge := e.Key.(*ast.MergeKeyNode); merge {
			p.errorf(e.Key, "merge keys (<<) are not supported in a policy")
			continue
		}
		k, ok := p.resolve(e.Key)
		if !ok {
			continue
		}
		name, ok := scalar(k)
		if !ok {
			p.errorf(k, "%s has a key that is not a string", what)
			continue
		}
		if len(allowed) > 0 && !slices.Contains(allowed, name) {
			p.errorf(k, "unknown key %q in %s; known keys: %s", name, what, strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := fields[name]; dup {
			p.errorf(k, "duplicate key %q in %s (first at line %d)", name, what, line(prev.key))
			continue
		}
		fields[name] = field{key: k, val: e.Value}
	}
	return fields, true
}

// keysInOrder returns f's keys in file order, so that what is built from them,
// and the errors about them, come in a stable order.
func keysInOrder(f map[string]field) []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		pa, pb := f[a].key.GetToken().Position, f[b].key.GetToken().Position
		if pa.Line != pb.Line {
			return pa.Line - pb.Line
		}
		return pa.Column - pb.Column
	})
	return keys
}

func (p *parser) sequence(n ast.Node, what string) ([]ast.Node, bool) {
	n, ok := p.resolve(n)
	if !ok {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		p.errorf(n, "%s must be a list, not %s", what, describe(n))
		return nil, false
	}
	return s.Values, true
}

// str reads a scalar as a string. Numbers and booleans are taken as written, so
// that an HR ID such as 1001 needs no quotes.
func (p *parser) str(n ast.Node, what string) (string, bool) {
	n, ok := p.resolve(n)
	if !ok {
		return "", false
	}
	s, ok := scalar(n)
	if !ok {
		p.errorf(n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	return s, true
}

// name reads a required, non-empty string.
func (p *parser) name(n ast.Node, what string) (string, bool) {
	s, ok := p.str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		p.errorf(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

func (p *parser) boolean(n ast.Node, what string) (bool, bool) {
	n, ok := p.resolve(n)
	if !ok {
		return false, false
	}
	if b, ok := n.(*ast.BoolNode); ok {
		return b.Value, true
	}
	p.errorf(n, "%s must be true or false, not %s", what, describe(n))
	return false, false
}

// scalar returns the text of a string, number or boolean: a string's value, and
// anything else as written. It is false for null and for collections.
func scalar(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode: // a block scalar, | or >
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	return "", false
}

func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

func isEmptyList(n ast.Node) bool {
	if a, ok := n.(*ast.AnchorNode); ok {
		return isEmptyList(a.Value)
	}
	s, ok := n.(*ast.SequenceNode)
	return ok && len(s.Values) == 0 || isNull(n)
}

// describe names what the user wrote, for "must be X, not Y" messages.
func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.AliasNode:
		return "an alias"
	}
	if isNull(n) {
		return "empty"
	}
	if s, ok := scalar(n); ok {
		return fmt.Sprintf("%q", s)
	}
	return "a " + n.Type().String()
}
