package lvm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LVM's text metadata is written in its configuration syntax (lvm2's
// lib/config, the same as lvm.conf): sections `name { … }`, assignments
// `key = value` where a value is an integer, a float, a "string" (with \"
// and \\ escapes) or a [list, of, values], and # comments. This file
// parses it into sections; vg.go reads a volume group out of them.
//
// No Go module on proxy.golang.org parses this syntax as a library:
// github.com/ejfkdev/udf/lvm2 reads single-PV linear volumes only and is
// not meant to be imported, and the LVM wrappers (e.g. the ones on top of
// the lvm command's JSON reports) need the tools and the device mapper.

// maxDepth bounds the nesting of sections and lists; LVM's metadata nests
// four deep (vg → logical_volumes → lv → segment).
const maxDepth = 32

// A section is `name { … }`: its assignments and subsections in order.
type section struct {
	name     string
	values   map[string]value
	sections []*section
}

// A value is an int, a float, a string or a list.
type value struct {
	kind byte // 'i', 'f', 's' or 'l'
	i    int64
	s    string // the string, or the float's text
	list []value
	line int
}

// A SyntaxError is metadata text that does not parse.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("lvm: metadata line %d: %s", e.Line, e.Msg) }

// parseConfig parses text as LVM configuration syntax; the top level is
// the section named "".
func parseConfig(text []byte) (*section, error) {
	p := &parser{src: text, line: 1}
	root := &section{values: map[string]value{}}
	if err := p.body(root, 0); err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != tokEOF {
		return nil, p.errf(t, "unexpected %s", t)
	}
	return root, nil
}

type tokKind byte

const (
	tokEOF tokKind = iota
	tokPunct
	tokString
	tokWord // identifier or number
)

type token struct {
	kind tokKind
	text string
	line int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of text"
	case tokString:
		return strconv.Quote(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

type parser struct {
	src    []byte
	pos    int
	line   int
	peeked *token
}

func (p *parser) errf(t token, format string, args ...any) error {
	return &SyntaxError{Line: t.line, Msg: fmt.Sprintf(format, args...)}
}

// body reads assignments and sections into s until "}" or the end.
func (p *parser) body(s *section, depth int) error {
	if depth > maxDepth {
		return &SyntaxError{Line: p.line, Msg: fmt.Sprintf("sections nest more than %d deep", maxDepth)}
	}
	for {
		t := p.peek()
		if t.kind == tokEOF || t.kind == tokPunct && t.text == "}" {
			return nil
		}
		p.next()
		if t.kind != tokWord && t.kind != tokString {
			return p.errf(t, "want a name, found %s", t)
		}
		switch op := p.next(); {
		case op.kind == tokPunct && op.text == "=":
			v, err := p.value(depth)
			if err != nil {
				return err
			}
			s.values[t.text] = v
		case op.kind == tokPunct && op.text == "{":
			sub := &section{name: t.text, values: map[string]value{}}
			if err := p.body(sub, depth+1); err != nil {
				return err
			}
			if c := p.next(); c.kind != tokPunct || c.text != "}" {
				return p.errf(c, "section %q: want }, found %s", t.text, c)
			}
			s.sections = append(s.sections, sub)
		default:
			return p.errf(op, "after %q: want = or {, found %s", t.text, op)
		}
	}
}

// value reads a value.
func (p *parser) value(depth int) (value, error) {
	t := p.next()
	switch {
	case t.kind == tokString:
		return value{kind: 's', s: t.text, line: t.line}, nil
	case t.kind == tokWord:
		if i, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			return value{kind: 'i', i: i, line: t.line}, nil
		}
		if _, err := strconv.ParseFloat(t.text, 64); err == nil {
			return value{kind: 'f', s: t.text, line: t.line}, nil
		}
		return value{}, p.errf(t, "value %s is not a number or a quoted string", t)
	case t.kind == tokPunct && t.text == "[":
		if depth > maxDepth {
			return value{}, p.errf(t, "lists nest more than %d deep", maxDepth)
		}
		v := value{kind: 'l', line: t.line}
		if c := p.peek(); c.kind == tokPunct && c.text == "]" {
			p.next()
			return v, nil
		}
		for {
			e, err := p.value(depth + 1)
			if err != nil {
				return value{}, err
			}
			v.list = append(v.list, e)
			switch c := p.next(); {
			case c.kind == tokPunct && c.text == ",":
			case c.kind == tokPunct && c.text == "]":
				return v, nil
			default:
				return value{}, p.errf(c, "in a list: want , or ], found %s", c)
			}
		}
	}
	return value{}, p.errf(t, "want a value, found %s", t)
}

func (p *parser) peek() token {
	if p.peeked == nil {
		t := p.scan()
		p.peeked = &t
	}
	return *p.peeked
}

func (p *parser) next() token {
	t := p.peek()
	p.peeked = nil
	return t
}

var errUnterminated = errors.New("unterminated string")

// scan reads the next token.
func (p *parser) scan() token {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == 0:
			p.pos++ // the metadata area pads the text with NULs
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case strings.IndexByte("{}[]=,", c) >= 0:
			p.pos++
			return token{kind: tokPunct, text: string(c), line: p.line}
		case c == '"':
			return p.scanString()
		default:
			start := p.pos
			for p.pos < len(p.src) && !isDelim(p.src[p.pos]) {
				p.pos++
			}
			return token{kind: tokWord, text: string(p.src[start:p.pos]), line: p.line}
		}
	}
	return token{kind: tokEOF, line: p.line}
}

func isDelim(c byte) bool {
	return c <= ' ' || strings.IndexByte("{}[]=,\"#", c) >= 0
}

// scanString reads a quoted string, with \" and \\ (and any \c as c).
func (p *parser) scanString() token {
	line := p.line
	p.pos++ // the opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		switch c {
		case '"':
			return token{kind: tokString, text: b.String(), line: line}
		case '\\':
			if p.pos < len(p.src) {
				c = p.src[p.pos]
				p.pos++
			}
		case '\n':
			p.line++
		}
		b.WriteByte(c)
	}
	// An unterminated string is an error token: a word that no rule takes.
	return token{kind: tokPunct, text: errUnterminated.Error(), line: line}
}

// Accessors used by vg.go: each names the key in its error.

func (s *section) sub(name string) *section {
	for _, c := range s.sections {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (s *section) int(key string) (int64, error) {
	v, ok := s.values[key]
	if !ok {
		return 0, fmt.Errorf("%s: no %s", s.name, key)
	}
	if v.kind != 'i' {
		return 0, fmt.Errorf("%s: %s (line %d) is not an integer", s.name, key, v.line)
	}
	return v.i, nil
}

func (s *section) str(key string) (string, error) {
	v, ok := s.values[key]
	if !ok {
		return "", fmt.Errorf("%s: no %s", s.name, key)
	}
	if v.kind != 's' {
		return "", fmt.Errorf("%s: %s (line %d) is not a string", s.name, key, v.line)
	}
	return v.s, nil
}

// strs returns a list of strings ("status = [...]"); a missing key is an
// empty list.
func (s *section) strs(key string) ([]string, error) {
	v, ok := s.values[key]
	if !ok {
		return nil, nil
	}
	if v.kind != 'l' {
		return nil, fmt.Errorf("%s: %s (line %d) is not a list", s.name, key, v.line)
	}
	var out []string
	for _, e := range v.list {
		if e.kind != 's' {
			return nil, fmt.Errorf("%s: %s (line %d) holds a non-string", s.name, key, v.line)
		}
		out = append(out, e.s)
	}
	return out, nil
}
