package cors

import (
	"math/bits"
	"strings"
)

// matches reports whether the request origin o matches the pattern (spec
// B.3): case-sensitive, anchored, a single "*" standing for zero or more
// characters of any kind.
func (p originPattern) matches(o string) bool {
	if p.star < 0 {
		return p.value == o
	}
	return matchWildcard(o, p.value[:p.star], p.value[p.star+1:])
}

// matchWildcard reports whether s is prefix, then anything, then suffix.
func matchWildcard(s, prefix, suffix string) bool {
	return len(s) >= len(prefix)+len(suffix) &&
		s[:len(prefix)] == prefix && s[len(s)-len(suffix):] == suffix
}

// allowsOrigin reports whether one of the rule's AllowedOrigin values matches
// o, which is not empty.
func (ru *rule) allowsOrigin(o string) bool {
	if ru.flags&anyOrigin != 0 {
		return true
	}
	for _, p := range ru.origins {
		if p.matches(o) {
			return true
		}
	}
	return false
}

// ruleSet is a set of rule indices. MaxRules fits with room to spare;
// policies with more rules than it holds are scanned instead of indexed.
// It is a struct of two words, not an array: the compiler keeps a struct in
// registers, and header matching combines several sets for every name.
type ruleSet struct{ lo, hi uint64 }

const ruleSetCap = 128

func (s *ruleSet) add(i int) {
	if i < 64 {
		s.lo |= 1 << i
	} else {
		s.hi |= 1 << (i - 64)
	}
}

func (s *ruleSet) union(t ruleSet) {
	s.lo |= t.lo
	s.hi |= t.hi
}

// or returns the rules of s or t. Hot loops use it rather than union, so
// that the set they build stays in registers.
func (s ruleSet) or(t ruleSet) ruleSet { return ruleSet{s.lo | t.lo, s.hi | t.hi} }

// and returns the rules of both s and t.
func (s ruleSet) and(t ruleSet) ruleSet { return ruleSet{s.lo & t.lo, s.hi & t.hi} }

func (s *ruleSet) intersect(t ruleSet) {
	s.lo &= t.lo
	s.hi &= t.hi
}

// with returns s and i.
func (s ruleSet) with(i int) ruleSet {
	s.add(i)
	return s
}

// minus returns the rules of s that are not in t.
func (s ruleSet) minus(t ruleSet) ruleSet { return ruleSet{s.lo &^ t.lo, s.hi &^ t.hi} }

func (s ruleSet) has(i int) bool {
	if i < 64 {
		return s.lo&(1<<i) != 0
	}
	return s.hi&(1<<(i-64)) != 0
}

func (s ruleSet) empty() bool { return s.lo|s.hi == 0 }

func (s ruleSet) intersects(t ruleSet) bool { return s.lo&t.lo|s.hi&t.hi != 0 }

func (s ruleSet) subsetOf(t ruleSet) bool { return s.lo&^t.lo|s.hi&^t.hi == 0 }

// single reports whether s holds exactly one rule.
func (s ruleSet) single() bool { return bits.OnesCount64(s.lo)+bits.OnesCount64(s.hi) == 1 }

// first returns the lowest index of s, or -1 when s is empty.
func (s ruleSet) first() int {
	switch {
	case s.lo != 0:
		return bits.TrailingZeros64(s.lo)
	case s.hi != 0:
		return 64 + bits.TrailingZeros64(s.hi)
	}
	return -1
}

// next removes and returns the lowest index of s, or -1 when s is empty.
func (s *ruleSet) next() int {
	switch {
	case s.lo != 0:
		i := bits.TrailingZeros64(s.lo)
		s.lo &= s.lo - 1
		return i
	case s.hi != 0:
		i := bits.TrailingZeros64(s.hi)
		s.hi &= s.hi - 1
		return 64 + i
	}
	return -1
}

// originIndex finds the rules that have an AllowedOrigin matching a request
// origin, at a cost that does not grow with the number of rules: exact
// origins are looked up in a map; patterns whose text after the "*" starts
// with "." (the common "https://*.example.com") are looked up by that suffix,
// probing each "." of the origin that is near enough to its end; the few other
// one-"*" shapes are scanned.
type originIndex struct {
	any       ruleSet
	exact     map[string]ruleSet
	dotted    map[string][]prefixRule
	maxDotted int // length of the longest key of dotted
	other     []wildOrigin
}

type prefixRule struct {
	prefix string
	rule   int
}

type wildOrigin struct {
	prefix, suffix string
	rule           int
}

// maxDottedKey bounds the suffixes the index looks up, and so the probing
// work, to about maxDottedKey²/2 bytes hashed per request whatever the origin
// and the configuration. A host name has at most 253 characters, but suffixes
// in real patterns are a domain or two; longer ones are scanned instead.
const maxDottedKey = 128

// buildIndex returns the origin index of rules, or nil when scanning the
// rules is as quick: few patterns, or more rules than a ruleSet holds.
func buildIndex(rules []rule) *originIndex {
	if len(rules) > ruleSetCap {
		return nil
	}
	n := 0
	for i := range rules {
		n += len(rules[i].origins)
	}
	if n <= indexedOrigins {
		return nil
	}
	x := &originIndex{exact: make(map[string]ruleSet)}
	for i := range rules {
		for _, pat := range rules[i].origins {
			p, star := pat.value, pat.star
			switch {
			case p == "*":
				x.any.add(i)
			case p == "":
				// An empty AllowedOrigin is valid (V15) but can never match:
				// an empty Origin is treated as absent.
			case star < 0:
				s := x.exact[p]
				s.add(i)
				x.exact[p] = s
			case strings.IndexByte(p[star+1:], '*') >= 0:
				// Invalid; matches nothing.
			case strings.HasPrefix(p[star+1:], ".") && len(p)-star-1 <= maxDottedKey:
				if x.dotted == nil {
					x.dotted = make(map[string][]prefixRule)
				}
				suffix := p[star+1:]
				x.dotted[suffix] = append(x.dotted[suffix], prefixRule{prefix: p[:star], rule: i})
				x.maxDotted = max(x.maxDotted, len(suffix))
			default:
				x.other = append(x.other, wildOrigin{prefix: p[:star], suffix: p[star+1:], rule: i})
			}
		}
	}
	return x
}

// candidates returns the rules with an AllowedOrigin matching o.
func (x *originIndex) candidates(o string) ruleSet {
	set := x.any
	if s, ok := x.exact[o]; ok {
		set.union(s)
	}
	if x.dotted != nil {
		// A suffix key starts with "." and is at most maxDotted long, so only
		// the dots in that many trailing bytes can start one: the probes are
		// bounded by the configuration, not by the origin.
		low := max(len(o)-x.maxDotted, 0)
		for j := len(o) - 1; j >= low; j-- {
			if o[j] != '.' {
				continue
			}
			for _, pr := range x.dotted[o[j:]] {
				if len(pr.prefix) <= j && o[:len(pr.prefix)] == pr.prefix {
					set.add(pr.rule)
				}
			}
		}
	}
	for i := range x.other {
		w := &x.other[i]
		if matchWildcard(o, w.prefix, w.suffix) {
			set.add(w.rule)
		}
	}
	return set
}
