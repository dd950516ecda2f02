package cors

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/s3cors/caddy-s3-cors/internal/xmltext"
)

const (
	// MaxRules is the most rules a configuration may hold (S3's limit).
	MaxRules = 100

	// MaxDocumentSize is the largest PutBucketCors body S3 accepts, in bytes.
	MaxDocumentSize = 64 << 10

	// MaxIDLength is the longest rule ID S3 accepts, in characters.
	MaxIDLength = 255

	// MaxRequestHeadersSize caps Access-Control-Request-Headers, counted over
	// all of its lines as if they were joined by commas. A preflight whose list
	// is longer is refused without looking at the names.
	//
	// S3 limits the headers of a PUT request to 8 KB. Every name a preflight
	// lists must then be sent as a header of the actual request, so a list
	// longer than that cannot announce a request S3 would accept. Browsers send
	// the names lowercased and comma-joined without spaces; the longest lists
	// real S3 clients produce (an SDK upload with checksums, a security token
	// and a few metadata headers) stay well under 1 KB.
	MaxRequestHeadersSize = 8 << 10
)

// Namespace is the XML namespace of S3's CORSConfiguration documents.
const Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// Error codes of validation failures. Every one is sent with status 400.
const (
	CodeMalformedXML             = "MalformedXML"
	CodeInvalidRequest           = "InvalidRequest"
	CodeMaxMessageLengthExceeded = "MaxMessageLengthExceeded"
)

const (
	msgMalformedXML = "The XML you provided was not well-formed or did not validate against our published schema"
	msgTooManyRules = "The number of CORS rules should not exceed allowed limit of 100 rules."
	msgTooBig       = "Your request was too big."
)

// Configuration is a parsed CORSConfiguration document, values verbatim, in
// document order.
type Configuration struct {
	Rules []Rule
}

// Rule is one CORSRule of a configuration. Every value is kept exactly as the
// document gave it: no trimming, no case folding, no deduplication.
type Rule struct {
	ID             string // "" when absent
	AllowedHeaders []string
	AllowedMethods []string
	AllowedOrigins []string
	ExposeHeaders  []string
	MaxAgeSeconds  *int // nil when absent
}

// Error is a validation failure with S3's code and exact message. Its HTTP
// status is always 400.
type Error struct {
	Code    string // "MalformedXML", "InvalidRequest", "MaxMessageLengthExceeded"
	Message string

	// Line and Column locate the failure in a document given to Parse: the
	// start of the element whose value S3 refuses, or where the document
	// stopped being well-formed or matching the schema. Both count from 1,
	// the column in bytes; they are 0 when unknown, as for Validate, which
	// has no document. S3 reports no position: they are for operators, and
	// Error and the S3 wire form leave them out.
	Line, Column int
}

// Error returns the code and the message.
func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}

// StatusCode is the HTTP status S3 sends with the error: always 400.
func (e *Error) StatusCode() int {
	return 400
}

// ErrorCode is S3's error code. With StatusCode and ErrorMessage it lets the
// S3 wire layer write the error without a copy of its text.
func (e *Error) ErrorCode() string { return e.Code }

// ErrorMessage is S3's message for the error.
func (e *Error) ErrorMessage() string { return e.Message }

func errMalformed() *Error {
	return &Error{Code: CodeMalformedXML, Message: msgMalformedXML}
}

func errInvalid(msg string) *Error {
	return &Error{Code: CodeInvalidRequest, Message: msg}
}

// Validate applies S3's PutBucketCors checks (spec A.3) to a configuration
// built in Go, such as one decoded from the JSON admin API, and reports the
// first failure in S3's order as an *Error. Parse applies the same checks, so
// a parsed configuration always validates.
//
// First come the checks a document would fail while being parsed, reported as
// MalformedXML: an ID longer than MaxIDLength characters, a MaxAgeSeconds
// outside the 32-bit range of the schema's integer, and text that an XML
// document cannot carry (invalid UTF-8, control characters). Then the rule
// count (V1, V12), then each rule in order.
func (c *Configuration) Validate() error {
	if e, _ := c.validate(); e != nil {
		return e
	}
	return nil
}

// invalidAt is where validate found a configuration invalid, so that Parse
// can point at the element.
type invalidAt struct {
	rule  int   // the rule's index; -1 for the configuration as a whole
	field field // the rule's list that holds the value; fieldNone for the rule as a whole
	index int   // the value's index in that list
}

// field names a list of a rule.
type field uint8

const (
	fieldNone field = iota
	fieldOrigin
	fieldMethod
	fieldHeader
	fieldExpose
)

// validate is Validate, saying where the first failure is.
func (c *Configuration) validate() (*Error, invalidAt) {
	if c == nil || len(c.Rules) == 0 {
		return errMalformed(), invalidAt{rule: -1} // V1
	}
	for i := range c.Rules {
		if !c.Rules[i].representable() {
			return errMalformed(), invalidAt{rule: i}
		}
	}
	if len(c.Rules) > MaxRules {
		return errInvalid(msgTooManyRules), invalidAt{rule: MaxRules} // V12: the first rule too many
	}
	for i := range c.Rules {
		if e, at := c.Rules[i].validate(); e != nil {
			at.rule = i
			return e, at
		}
	}
	return nil, invalidAt{}
}

// representable reports whether the rule could have come from a document
// that passes the schema: the checks Parse makes while decoding.
func (r *Rule) representable() bool {
	if utf8.RuneCountInString(r.ID) > MaxIDLength { // V16
		return false
	}
	if r.MaxAgeSeconds != nil && (*r.MaxAgeSeconds < math.MinInt32 || *r.MaxAgeSeconds > math.MaxInt32) {
		return false
	}
	if !xmltext.Valid(r.ID) {
		return false
	}
	for _, list := range [...][]string{r.AllowedHeaders, r.AllowedMethods, r.AllowedOrigins, r.ExposeHeaders} {
		for _, v := range list {
			if !xmltext.Valid(v) {
				return false
			}
		}
	}
	return true
}

// validate makes the per-rule checks in the order of spec A.3: origins
// present (V4), origin wildcards (V9), methods present (V5), method values
// (V6-V8), AllowedHeader wildcards (V10), then ExposeHeader wildcards (V11)
// and characters (V19). It says which value failed; the rule index is left
// to the caller.
func (r *Rule) validate() (*Error, invalidAt) {
	if len(r.AllowedOrigins) == 0 {
		return errMalformed(), invalidAt{} // V3, V4
	}
	for i, o := range r.AllowedOrigins {
		// Several origins may sit next to "*" in one rule (V20, open in the
		// spec): S3 accepted such a list, so it is accepted here too.
		if strings.Count(o, "*") > 1 {
			return errInvalid(`AllowedOrigin "` + o + `" can not have more than one wildcard.`), invalidAt{field: fieldOrigin, index: i} // V9
		}
	}
	if len(r.AllowedMethods) == 0 {
		return errMalformed(), invalidAt{} // V5
	}
	for i, m := range r.AllowedMethods {
		// Methods are compared exactly, so "get" is refused like "PATCH" (V8,
		// open in the spec; the implementations that compare with S3 refuse it).
		if methodBit(m) == 0 {
			return errInvalid("Found unsupported HTTP method in CORS config. Unsupported method is " + m), invalidAt{field: fieldMethod, index: i} // V6, V7, V8
		}
	}
	for i, h := range r.AllowedHeaders {
		if strings.Count(h, "*") > 1 {
			return errInvalid(`AllowedHeader "` + h + `" can not have more than one wildcard.`), invalidAt{field: fieldHeader, index: i} // V10
		}
	}
	for i, h := range r.ExposeHeaders {
		if strings.IndexByte(h, '*') >= 0 {
			return errInvalid(`ExposeHeader "` + h + `" contains wildcard. We currently do not support wildcard for ExposeHeader.`), invalidAt{field: fieldExpose, index: i} // V11
		}
		// V19 is open in the spec: the one report of AWS's behaviour says it
		// refuses ExposeHeader values that are not HTTP tokens, with a message
		// that says AllowedHeader, and does not check AllowedHeader values.
		// That is followed here. An empty value is not refused: it has no
		// invalid character.
		if !isToken(h) {
			return errInvalid(`AllowedHeader "` + h + `" contains invalid character.`), invalidAt{field: fieldExpose, index: i} // V19
		}
	}
	// A negative MaxAgeSeconds is accepted (V14, open in the spec) and sent
	// back as it is, like 0.
	return nil, invalidAt{}
}

// isToken reports whether every byte of s is an RFC 9110 token character.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
