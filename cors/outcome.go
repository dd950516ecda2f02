package cors

import (
	"net/http"
	"strconv"
)

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
