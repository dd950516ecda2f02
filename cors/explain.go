package cors

import "net/http"

// Explanation is a decision together with how every rule fared, for the admin
// API and for logs that must say why a request got no CORS headers.
type Explanation struct {
	Decision Decision
	// Rules holds one verdict per rule, in document order. It is nil when the
	// decision was reached before any rule was consulted: no Origin, no
	// configuration, an invalid preflight method, or an oversized
	// Access-Control-Request-Headers.
	Rules []RuleVerdict
}

// RuleVerdict is how one rule fared against a request. Each rule is judged on
// its own, so rules after the winning one may match too; only the first
// matching rule decides.
type RuleVerdict struct {
	Index   int
	ID      string
	Matched bool   // the rule allows origin, method and every requested header
	Reason  Reason // the first criterion the rule fails; ReasonNone when Matched
	Header  string // with ReasonHeader: the first requested header the rule does not allow
}

// Explain is the same decision as Preflight, or as Actual when r.Method is not
// OPTIONS, with the verdict of every rule. Unlike them it allocates.
func (p *Policy) Explain(r Request) Explanation {
	var d Decision
	if r.Method == http.MethodOptions {
		d = p.Preflight(r)
	} else {
		d = p.Actual(r)
	}
	e := Explanation{Decision: d}
	if d.outcome != Allowed && d.outcome != NotAllowed || d.reason == ReasonHeadersTooLarge {
		return e
	}
	// Both paths leave in d.method the method the rules are matched against.
	method := methodBit(d.method)
	_, named := scanRequestHeaders(r.RequestHeaders)
	e.Rules = make([]RuleVerdict, p.consulted())
	for i := range e.Rules {
		e.Rules[i] = p.verdict(i, r.Origin, method, named, r.RequestHeaders)
	}
	return e
}

func (p *Policy) verdict(i int, origin string, method uint8, named bool, acrh []string) RuleVerdict {
	ru := &p.rules[i]
	v := RuleVerdict{Index: i, ID: ru.id}
	if !ru.allowsOrigin(origin) {
		v.Reason = ReasonOrigin
		return v
	}
	if ru.methods&method == 0 {
		v.Reason = ReasonMethod
		return v
	}
	if named {
		if ok, name := p.ruleAllowsHeaders(i, acrh); !ok {
			v.Reason, v.Header = ReasonHeader, name
			return v
		}
	}
	v.Matched = true
	return v
}
