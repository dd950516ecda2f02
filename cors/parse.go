package cors

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parse reads a PutBucketCors body. It accepts the child elements of a rule in
// any order, with or without S3's namespace and with or without an XML
// declaration, and keeps every value verbatim and in document order.
//
// Errors are *Error values, checked in S3's order (spec A.3): the body size
// (over MaxDocumentSize: MaxMessageLengthExceeded), then the document's
// well-formedness and schema (MalformedXML: broken XML, an unknown element, a
// repeated ID or MaxAgeSeconds, a MaxAgeSeconds that is not an integer, an ID
// longer than MaxIDLength characters), then the rule count and each rule as
// Validate describes. The first failure is reported, with the line and column
// of the document where it is (Error.Line, Error.Column).
func Parse(doc []byte) (*Configuration, error) {
	if len(doc) > MaxDocumentSize {
		// V17 is open in the spec: S3 documents the limit but no response to
		// it has been recorded. This is S3's generic answer to an oversized
		// request body.
		return nil, &Error{Code: CodeMaxMessageLengthExceeded, Message: msgTooBig}
	}
	return ParseStored(doc)
}

// ParseStored reads a document that was accepted before and kept, such as
// the canonical form Marshal writes: it is Parse without the size limit,
// which applies to what a client sends. The canonical form of a document
// within the limit can exceed it (the XML declaration and namespace, and
// escapes of the characters XML reserves), and it must read back all the
// same.
func ParseStored(doc []byte) (*Configuration, error) {
	p := &parser{d: xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(doc, utf8BOM)))}
	c, err := p.decode()
	if err != nil {
		e := errMalformed()
		e.Line, e.Column = p.failedAt(err)
		return nil, e
	}
	if e, at := c.validate(); e != nil {
		e.Line, e.Column = p.positionOf(at)
		return nil, e
	}
	return c, nil
}

// errSchema marks a document that is well-formed XML but not a
// CORSConfiguration; encoding/xml reports the other failures itself.
var errSchema = errors.New("document does not match the CORSConfiguration schema")

var utf8BOM = []byte("\xef\xbb\xbf")

// position is a place in a document: line and column (in bytes) from 1.
type position struct{ line, column int }

// parser decodes a document token by token, noting where each token and
// each value starts, so that an error can point into the document.
type parser struct {
	d     *xml.Decoder
	at    position // the start of the token read last
	root  position
	rules []rulePositions
}

// rulePositions are the starts of a rule's element and of its values.
type rulePositions struct {
	start                             position
	origins, methods, headers, expose []position
}

// token reads the next token, noting where it starts.
func (p *parser) token() (xml.Token, error) {
	p.at = p.inputPos()
	return p.d.Token()
}

func (p *parser) inputPos() position {
	line, column := p.d.InputPos()
	return position{line, column}
}

// schemaError is errSchema for the token that starts at pos.
func (p *parser) schemaError(pos position) error {
	p.at = pos
	return errSchema
}

// failedAt is where decoding failed with err: the start of the token that
// does not match the schema, or the place where encoding/xml gave up.
func (p *parser) failedAt(err error) (line, column int) {
	if errors.Is(err, errSchema) {
		return p.at.line, p.at.column
	}
	pos := p.inputPos()
	if se, ok := errors.AsType[*xml.SyntaxError](err); ok && se.Line != pos.line {
		return se.Line, 0
	}
	return pos.line, pos.column
}

// positionOf is where the value that validate found invalid starts.
func (p *parser) positionOf(at invalidAt) (line, column int) {
	if at.rule < 0 || at.rule >= len(p.rules) {
		return p.root.line, p.root.column
	}
	r := &p.rules[at.rule]
	var values []position
	switch at.field {
	case fieldOrigin:
		values = r.origins
	case fieldMethod:
		values = r.methods
	case fieldHeader:
		values = r.headers
	case fieldExpose:
		values = r.expose
	}
	if at.index < len(values) {
		return values[at.index].line, values[at.index].column
	}
	return r.start.line, r.start.column
}

func (p *parser) decode() (*Configuration, error) {
	var c *Configuration
	for first := true; ; first = false {
		tok, err := p.token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if c != nil || !wellFormed(t) || !inNamespace(t.Name) || t.Name.Local != "CORSConfiguration" {
				return nil, errSchema
			}
			p.root = p.at
			if c, err = p.decodeRoot(); err != nil {
				return nil, err
			}
		case xml.ProcInst:
			// The XML declaration may only open the document.
			if strings.EqualFold(t.Target, "xml") && !first {
				return nil, errSchema
			}
		case xml.CharData:
			if !isSpace(t) {
				return nil, errSchema
			}
		case xml.Directive:
			// A DOCTYPE has no place in an S3 request; refusing it also keeps
			// entity declarations out.
			return nil, errSchema
		}
	}
	if c == nil {
		return nil, errSchema // V2: empty body
	}
	return c, nil
}

func (p *parser) decodeRoot() (*Configuration, error) {
	c := &Configuration{}
	for {
		tok, err := p.token()
		if err != nil {
			return nil, eofIsError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !wellFormed(t) || !inNamespace(t.Name) || t.Name.Local != "CORSRule" {
				return nil, errSchema // V18
			}
			p.rules = append(p.rules, rulePositions{start: p.at})
			r, err := p.decodeRule(&p.rules[len(p.rules)-1])
			if err != nil {
				return nil, err
			}
			c.Rules = append(c.Rules, r)
		case xml.EndElement:
			return c, nil
		case xml.CharData:
			if !isSpace(t) {
				return nil, errSchema
			}
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") {
				return nil, errSchema
			}
		case xml.Directive:
			return nil, errSchema
		}
	}
}

func (p *parser) decodeRule(pos *rulePositions) (Rule, error) {
	var r Rule
	var hasID bool
	for {
		tok, err := p.token()
		if err != nil {
			return r, eofIsError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !wellFormed(t) || !inNamespace(t.Name) {
				return r, errSchema
			}
			start := p.at
			v, err := p.decodeText()
			if err != nil {
				return r, err
			}
			switch t.Name.Local {
			case "AllowedHeader":
				r.AllowedHeaders = append(r.AllowedHeaders, v)
				pos.headers = append(pos.headers, start)
			case "AllowedMethod":
				r.AllowedMethods = append(r.AllowedMethods, v)
				pos.methods = append(pos.methods, start)
			case "AllowedOrigin":
				r.AllowedOrigins = append(r.AllowedOrigins, v)
				pos.origins = append(pos.origins, start)
			case "ExposeHeader":
				r.ExposeHeaders = append(r.ExposeHeaders, v)
				pos.expose = append(pos.expose, start)
			case "ID":
				if hasID || utf8.RuneCountInString(v) > MaxIDLength { // V16
					return r, p.schemaError(start)
				}
				r.ID, hasID = v, true
			case "MaxAgeSeconds":
				if r.MaxAgeSeconds != nil {
					return r, p.schemaError(start)
				}
				// The schema's integer allows surrounding white space and a
				// sign; anything else is V13.
				n, err := strconv.ParseInt(strings.Trim(v, " \t\r\n"), 10, 32)
				if err != nil {
					return r, p.schemaError(start) // V13
				}
				age := int(n)
				r.MaxAgeSeconds = &age
			default:
				return r, p.schemaError(start) // V18
			}
		case xml.EndElement:
			return r, nil
		case xml.CharData:
			if !isSpace(t) {
				return r, errSchema
			}
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") {
				return r, errSchema
			}
		case xml.Directive:
			return r, errSchema
		}
	}
}

// decodeText reads the text of an element that may hold nothing else, up to
// and including its end tag. Comments are dropped; CDATA sections count as
// text.
func (p *parser) decodeText() (string, error) {
	var b []byte
	for {
		tok, err := p.token()
		if err != nil {
			return "", eofIsError(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b = append(b, t...)
		case xml.EndElement:
			return string(b), nil
		case xml.StartElement, xml.Directive:
			return "", errSchema
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") {
				return "", errSchema
			}
		}
	}
}

// wellFormed makes the one well-formedness check encoding/xml leaves out: an
// attribute may appear only once in a tag. Attributes are otherwise ignored.
func wellFormed(t xml.StartElement) bool {
	for i := range t.Attr {
		for j := range i {
			if t.Attr[i].Name == t.Attr[j].Name {
				return false
			}
		}
	}
	return true
}

func inNamespace(n xml.Name) bool {
	return n.Space == "" || n.Space == Namespace
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

func eofIsError(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
