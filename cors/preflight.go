package cors

import "net/http"

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
