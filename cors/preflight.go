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
// Rules are narrowed in that order: those whose origins match (scanned, or
// looked up in the origin index), of those the ones that allow the method,
// and of those the first that allows every requested header.
func (p *Policy) evaluate(d *Decision, origin string, method uint8, acrh []string) {
	tooLarge, named := scanRequestHeaders(acrh)
	if tooLarge {
		d.outcome, d.reason = NotAllowed, ReasonHeadersTooLarge
		return
	}
	d.outcome, d.reason = NotAllowed, ReasonOrigin
	var cands ruleSet // rules that allow origin and method
	if p.index == nil {
		for i := range p.consulted() {
			if p.rules[i].allowsOrigin(origin) && p.candidate(d, &cands, i, method, named) {
				break
			}
		}
	} else {
		set := p.index.candidates(origin)
		for i := set.next(); i >= 0; i = set.next() {
			if p.candidate(d, &cands, i, method, named) {
				break
			}
		}
	}
	if cands.empty() {
		return // d.reason says how far the rules got
	}
	i := cands.first()
	if named {
		var denied string
		if i, denied = p.firstAllowing(cands, acrh); i < 0 {
			d.reason, d.text = ReasonHeader, denied
			return
		}
	}
	d.rule, d.index, d.outcome, d.reason, d.text = &p.rules[i], int32(i+1), Allowed, ReasonNone, origin
	d.named, d.acrh = named, acrh
}

// candidate adds rule i, whose origin matched, to cands when it allows the
// method, and otherwise records in d that a rule got as far as the method.
// It reports whether later rules cannot matter: rule i is sure to match if
// no lower candidate does, because it needs no header check.
func (p *Policy) candidate(d *Decision, cands *ruleSet, i int, method uint8, named bool) bool {
	if p.rules[i].methods&method == 0 {
		d.reason = ReasonMethod
		return false
	}
	cands.add(i)
	return !named || p.anyHeader.has(i)
}
