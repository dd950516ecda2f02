package cors

import (
	"net/http"
	"strconv"
	"unsafe"
)

// Request is what CORS evaluation reads from an HTTP request.
type Request struct {
	Origin           string   // "" when absent or empty
	Method           string   // the request's own HTTP method
	RequestMethod    string   // Access-Control-Request-Method
	HasRequestMethod bool     // whether Access-Control-Request-Method was sent, even empty
	RequestHeaders   []string // Access-Control-Request-Headers lines as received; nil when absent
}

// NewRequest reads a Request from header with direct map access (no
// Header.Get, no allocation). header must have canonical keys, as the ones
// net/http builds do. Of repeated Origin or Access-Control-Request-Method
// lines the first is used; Access-Control-Request-Headers lines are all kept,
// since intermediaries may split one list over several lines.
func NewRequest(method string, header http.Header) Request {
	r := Request{Method: method}
	if v := header["Origin"]; len(v) > 0 {
		r.Origin = v[0]
	}
	if v := header["Access-Control-Request-Method"]; len(v) > 0 {
		r.RequestMethod, r.HasRequestMethod = v[0], true
	}
	if v := header["Access-Control-Request-Headers"]; len(v) > 0 {
		r.RequestHeaders = v
	}
	return r
}

// Outcome is the step of S3's procedure that decided a request (spec B.1 for
// preflights, C.1 for actual requests).
type Outcome uint8

const (
	// NotAllowed: no rule matches origin, method and requested headers (P7).
	// It is the zero value, so a zero Decision allows nothing.
	NotAllowed Outcome = iota
	// Allowed: a rule matched; Decision.Rule says which.
	Allowed
	// MissingOrigin: the request has no Origin, or an empty one (P1).
	MissingOrigin
	// BucketNotFound: the bucket does not exist (P2).
	BucketNotFound
	// NotEnabled: the bucket has no CORS configuration (P3).
	NotEnabled
	// InvalidRequestMethod: a preflight without Access-Control-Request-Method
	// (P4) or with a value other than GET, PUT, HEAD, POST or DELETE (P5).
	InvalidRequestMethod
)

var outcomeNames = [...]string{
	NotAllowed:           "NotAllowed",
	Allowed:              "Allowed",
	MissingOrigin:        "MissingOrigin",
	BucketNotFound:       "BucketNotFound",
	NotEnabled:           "NotEnabled",
	InvalidRequestMethod: "InvalidRequestMethod",
}

// String returns the outcome's name, as used in logs.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Reason says which criterion refused a NotAllowed request. Rules are
// compared on origin, then method, then requested headers; the reason is the
// furthest criterion any rule got to.
type Reason uint8

const (
	// ReasonNone: the request was allowed, or refused before any rule was
	// consulted (see Outcome).
	ReasonNone Reason = iota
	// ReasonOrigin: no rule allows the origin.
	ReasonOrigin
	// ReasonMethod: rules allow the origin, but none the method.
	ReasonMethod
	// ReasonHeader: rules allow origin and method, but none every requested
	// header; Decision.DeniedHeader names one.
	ReasonHeader
	// ReasonHeadersTooLarge: Access-Control-Request-Headers is longer than
	// MaxRequestHeadersSize, so it was refused unread.
	ReasonHeadersTooLarge
)

var reasonNames = [...]string{
	ReasonNone:            "none",
	ReasonOrigin:          "origin",
	ReasonMethod:          "method",
	ReasonHeader:          "header",
	ReasonHeadersTooLarge: "headers_too_large",
}

// String returns the reason's name, as used in logs.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Decision is the result of evaluating a request. It is small, returned by
// value, and refers to the request's strings and the policy without copying
// them.
type Decision struct {
	rule *rule
	// text is the request's Origin when allowed (ACAO echoes it) and the
	// refused header name when the reason is ReasonHeader: one field, as a
	// decision is copied on every call.
	text    string
	method  string   // for Method()
	acrh    []string // the request's ACRH lines, for ACAH
	index   int32    // rule index + 1; 0 when no rule matched
	outcome Outcome
	reason  Reason
	named   bool // ACRH named at least one header: ACAH is sent
	noACRM  bool // the preflight had no Access-Control-Request-Method
}

// Allowed reports whether a rule matched, so the response gets CORS headers.
func (d Decision) Allowed() bool { return d.outcome == Allowed && d.rule != nil }

// Outcome is the step that decided the request.
func (d Decision) Outcome() Outcome { return d.outcome }

// Reason says which criterion failed when the outcome is NotAllowed.
func (d Decision) Reason() Reason { return d.reason }

// Rule is the index of the matched rule, or -1 if none matched.
func (d Decision) Rule() int { return int(d.index) - 1 }

// SameHeaders reports whether d and o, decisions of one request by two
// policies, give its response the same CORS headers: both allow nothing, or
// both allow with rules that write the same values. Which rule matched does
// not matter when the headers agree. It allocates nothing.
func (d Decision) SameHeaders(o Decision) bool {
	if !d.Allowed() || !o.Allowed() {
		return d.Allowed() == o.Allowed()
	}
	// The request's own values (the echoed origin, the requested headers)
	// are the same on both sides; only what the rules add can differ.
	a, b := d.rule, o.rule
	const written = anyOrigin | hasExpose
	return a.flags&written == b.flags&written && a.acam == b.acam && a.aceh == b.aceh && a.acma == b.acma
}

// DeniedHeader is, when Reason is ReasonHeader, the first requested header
// that the lowest-numbered rule allowing origin and method does not allow, as
// the request spelled it (trimmed, case kept).
func (d Decision) DeniedHeader() string {
	if d.reason != ReasonHeader {
		return ""
	}
	return d.text
}

// Method is the <Method> element of a preflight's 403 body: the value of
// Access-Control-Request-Method, or "OPTIONS" when it is absent (spec E.1 #5).
// For an actual request it is the method the rules were matched against.
func (d Decision) Method() string { return d.method }

// StatusCode is the status of a preflight response: 200 when allowed, 400
// for MissingOrigin and InvalidRequestMethod, 403 otherwise. Actual requests
// keep the status of the operation.
func (d Decision) StatusCode() int {
	switch d.outcome {
	case Allowed:
		return http.StatusOK
	case MissingOrigin, InvalidRequestMethod:
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

// Code is the <Code> of a preflight's error body: "BadRequest" for 400s,
// "AccessForbidden" for 403s (spec E.1 #1), "" when allowed.
func (d Decision) Code() string {
	switch d.outcome {
	case Allowed:
		return ""
	case MissingOrigin, InvalidRequestMethod:
		return "BadRequest"
	}
	return "AccessForbidden"
}

const (
	msgMissingOrigin  = "Insufficient information. Origin request header needed."
	msgBucketNotFound = "CORSResponse: Bucket not found"
	msgNotEnabled     = "CORSResponse: CORS is not enabled for this bucket."
	msgInvalidMethod  = "Invalid Access-Control-Request-Method: "
	// S3's spelling, "evalution" included (spec E.1 #2).
	msgNotAllowed = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
)

// Message is the <Message> of a preflight's error body, byte for byte as S3
// sends it; "" when allowed. Only the message of an invalid
// Access-Control-Request-Method value is built (it quotes the value), so only
// that one allocates.
func (d Decision) Message() string {
	switch d.outcome {
	case Allowed:
		return ""
	case MissingOrigin:
		return msgMissingOrigin
	case BucketNotFound:
		return msgBucketNotFound
	case NotEnabled:
		return msgNotEnabled
	case InvalidRequestMethod:
		if d.noACRM {
			return msgInvalidMethod + "null" // S3's Java-style null (spec E.1 #14)
		}
		return msgInvalidMethod + d.method
	}
	return msgNotAllowed
}

// ResourceType is the <ResourceType> of a preflight's 403 body (spec E.1 #4):
// always "BUCKET" for NotEnabled and BucketNotFound, and for NotAllowed
// "OBJECT" when the URL names a key, else "BUCKET". It is "" for outcomes
// without a 403 body.
func (d Decision) ResourceType(hasKey bool) string {
	switch d.outcome {
	case NotEnabled, BucketNotFound:
		return "BUCKET"
	case NotAllowed:
		if hasKey {
			return "OBJECT"
		}
		return "BUCKET"
	}
	return ""
}

// MissingBucket is the decision for a preflight to a bucket that does not
// exist: P1, then P2.
func MissingBucket(r Request) Decision {
	if r.Origin == "" {
		return Decision{outcome: MissingOrigin, method: preflightMethod(r), noACRM: !r.HasRequestMethod}
	}
	return Decision{outcome: BucketNotFound, method: preflightMethod(r), noACRM: !r.HasRequestMethod}
}

// Preflight decides an OPTIONS request per spec B.1 steps P1 and P3 to P7. A
// nil *Policy means the bucket has no CORS configuration (P3). It allocates
// nothing.
func (p *Policy) Preflight(r Request) Decision {
	d := Decision{method: preflightMethod(r), noACRM: !r.HasRequestMethod}
	switch {
	case r.Origin == "":
		d.outcome = MissingOrigin
		return d
	case p == nil:
		d.outcome = NotEnabled
		return d
	}
	// P4 and P5 come after P3: S3 answers a bucket without configuration with
	// 403 "not enabled" whether or not the method is valid.
	m := methodBit(r.RequestMethod)
	if m == 0 {
		d.outcome = InvalidRequestMethod
		return d
	}
	p.evaluate(&d, r.Origin, m, r.RequestHeaders)
	return d
}

// Actual decides which CORS headers a non-OPTIONS request gets (spec C.1). A
// nil *Policy gives no headers. The rules are matched against
// Access-Control-Request-Method when the request has one, else against the
// request's method; an Access-Control-Request-Method that is not a valid
// method matches no rule (open in the spec; this is its recommendation).
// Requested headers are checked as in a preflight. It allocates nothing.
func (p *Policy) Actual(r Request) Decision {
	d := Decision{method: r.Method}
	if r.HasRequestMethod {
		d.method = r.RequestMethod
	}
	switch {
	case r.Origin == "":
		d.outcome = MissingOrigin
		return d
	case p == nil:
		d.outcome = NotEnabled
		return d
	}
	p.evaluate(&d, r.Origin, methodBit(d.method), r.RequestHeaders)
	return d
}

func preflightMethod(r Request) string {
	if r.HasRequestMethod {
		return r.RequestMethod
	}
	return http.MethodOptions
}

// evaluate finds the first rule that allows origin, method and every
// requested header (spec B.2) and records it, or the reason none did, in d.
func (p *Policy) evaluate(d *Decision, origin string, method uint8, acrh []string) {
	tooLarge, named := scanRequestHeaders(acrh)
	if tooLarge {
		d.outcome, d.reason = NotAllowed, ReasonHeadersTooLarge
		return
	}
	d.outcome, d.reason = NotAllowed, ReasonOrigin
	if p.index == nil {
		for i := range p.rules {
			if p.rules[i].allowsOrigin(origin) && p.try(d, i, method, named, acrh) {
				d.text = origin
				return
			}
		}
		return
	}
	set := p.index.candidates(origin)
	for i := set.next(); i >= 0; i = set.next() {
		if p.try(d, i, method, named, acrh) {
			d.text = origin
			return
		}
	}
}

// try checks the method and headers of rule i, whose origin matched; it
// records a match, or how far the rule got, in d.
func (p *Policy) try(d *Decision, i int, method uint8, named bool, acrh []string) bool {
	ru := &p.rules[i]
	if ru.methods&method == 0 {
		d.reason = max(d.reason, ReasonMethod)
		return false
	}
	if named {
		if ok, name := ru.allowsHeaders(acrh); !ok {
			if d.reason < ReasonHeader {
				d.reason, d.text = ReasonHeader, name
			}
			return false
		}
	}
	d.rule, d.index, d.outcome, d.reason, d.text = ru, int32(i+1), Allowed, ReasonNone, ""
	d.named, d.acrh = named, acrh
	return true
}

// Response header names, in canonical form for direct map assignment.
const (
	headerACAO = "Access-Control-Allow-Origin"
	headerACAC = "Access-Control-Allow-Credentials"
	headerACAM = "Access-Control-Allow-Methods"
	headerACAH = "Access-Control-Allow-Headers"
	headerACEH = "Access-Control-Expose-Headers"
	headerACMA = "Access-Control-Max-Age"
	headerVary = "Vary"
)

// VaryValue is the Vary header S3 sends with every matched CORS response, and
// only then (spec E.1 #9).
const VaryValue = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

// responseValues is the per-response backing of every header value set by
// WriteHeaders: fresh for each response, so that nothing handed to the
// response is shared with another one or with the policy.
type responseValues [7]string

// When the Access-Control-Allow-Headers value must be built, its bytes share
// the response's one allocation, sized to the value: 160, 208 or 320 bytes.
// 208 bytes hold the list an AWS SDK sends for a checksummed upload with a
// security token; a longer value costs a second allocation.
type (
	valuesACAH48 struct {
		values responseValues
		acah   [48]byte
	}
	valuesACAH96 struct {
		values responseValues
		acah   [96]byte
	}
	valuesACAH208 struct {
		values responseValues
		acah   [208]byte
	}
)

const acahInline = len(valuesACAH208{}.acah)

// newValues returns fresh response values, and a buffer of capacity n for the
// Access-Control-Allow-Headers value when n > 0.
func newValues(n int) (*responseValues, []byte) {
	switch {
	case n == 0:
		return new(responseValues), nil
	case n <= len(valuesACAH48{}.acah):
		r := new(valuesACAH48)
		return &r.values, r.acah[:0:n]
	case n <= len(valuesACAH96{}.acah):
		r := new(valuesACAH96)
		return &r.values, r.acah[:0:n]
	case n <= acahInline:
		r := new(valuesACAH208)
		return &r.values, r.acah[:0:n]
	}
	return new(responseValues), make([]byte, 0, n)
}

// WriteHeaders sets the CORS response headers of an allowed decision on h
// exactly as spec B.4 and C.2 describe: Access-Control-Allow-Origin ("*" when
// the rule lists "*", else the request's Origin), Access-Control-Allow-
// Credentials "true" when the origin is echoed, Access-Control-Allow-Methods
// (all of the rule's methods), Access-Control-Allow-Headers when the request
// named headers, Access-Control-Expose-Headers and Access-Control-Max-Age when
// the rule sets them, and Vary. Headers the decision does not call for are not
// touched; a caller merging with an upstream response removes the upstream's
// Access-Control-* headers first. It does nothing for a denied decision.
//
// All values share one new backing array, so the response owns what it gets:
// code that later changes the values in place cannot affect other responses.
// That array is the only allocation, unless the requested list is long enough
// for its Access-Control-Allow-Headers value to exceed 208 bytes, which costs
// a second.
func (d Decision) WriteHeaders(h http.Header) {
	// Small enough to inline, so that a denied decision costs one compare.
	if d.Allowed() {
		d.write(h)
	}
}

func (d *Decision) write(h http.Header) {
	ru := d.rule
	var v *responseValues
	var acah string
	if !d.named {
		v, _ = newValues(0)
	} else if line, ok := echoable(d.acrh); ok {
		// Already the value S3 sends: strings are immutable, so the request's
		// string can be used as it is; only the slice must be fresh.
		v, _ = newValues(0)
		acah = line
	} else {
		var b []byte
		v, b = newValues(acahCap(d.acrh))
		b = appendACAH(b, d.acrh)
		acah = unsafe.String(unsafe.SliceData(b), len(b))
	}
	if ru.flags&anyOrigin != 0 {
		v[0] = "*"
	} else {
		v[0] = d.text
		v[1] = "true"
		h[headerACAC] = v[1:2:2]
	}
	h[headerACAO] = v[0:1:1]
	v[2] = ru.acam
	h[headerACAM] = v[2:3:3]
	if d.named {
		v[3] = acah
		h[headerACAH] = v[3:4:4]
	}
	if ru.flags&hasExpose != 0 {
		v[4] = ru.aceh
		h[headerACEH] = v[4:5:5]
	}
	if ru.acma != "" {
		v[5] = ru.acma
		h[headerACMA] = v[5:6:6]
	}
	v[6] = VaryValue
	h[headerVary] = v[6:7:7]
}
