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
type ruleSet [2]uint64

const ruleSetCap = len(ruleSet{}) * 64

func (s *ruleSet) add(i int) { s[i>>6] |= 1 << (i & 63) }

func (s *ruleSet) union(t ruleSet) {
	s[0] |= t[0]
	s[1] |= t[1]
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

// next removes and returns the lowest index of s, or -1 when s is empty.
func (s *ruleSet) next() int {
	for w := range s {
		if s[w] != 0 {
			i := bits.TrailingZeros64(s[w])
			s[w] &= s[w] - 1
			return w*64 + i
		}
	}
	return -1
}

// allowsHeaders reports whether the rule allows every name listed in lines,
// and otherwise returns the first name it does not allow. The list is within
// MaxRequestHeadersSize, so it holds at most 4096 names; each is compared
// with the rule's exact names (searched once there are many) and then with its
// one-"*" patterns in turn, so the work is bounded by the cap times the size
// of the configuration.
func (ru *rule) allowsHeaders(lines []string) (bool, string) {
	if ru.flags&anyHeader != 0 {
		return true, ""
	}
	for _, s := range lines {
		for s != "" {
			var name string
			if name, s = cutName(s); name != "" && !ru.allowsHeader(name) {
				return false, name
			}
		}
	}
	return true, ""
}

// allowsHeader reports whether a requested name, in any case, matches one of
// the rule's AllowedHeader patterns (spec B.3). The patterns are lowercase;
// the name is folded byte by byte, so nothing is allocated.
func (ru *rule) allowsHeader(name string) bool {
	exact := ru.lowHeaders[:ru.nExact]
	if len(exact) <= exactHeaderScan {
		for _, h := range exact {
			if equalLower(name, h) {
				return true
			}
		}
	} else if searchLower(exact, name) {
		return true
	}
	for _, p := range ru.lowHeaders[ru.nExact:] {
		star := strings.IndexByte(p, '*')
		prefix, suffix := p[:star], p[star+1:]
		if len(name) >= len(prefix)+len(suffix) &&
			equalLower(name[:len(prefix)], prefix) && equalLower(name[len(name)-len(suffix):], suffix) {
			return true
		}
	}
	return false
}

// equalLower reports whether s, lowercased, equals low.
func equalLower(s, low string) bool {
	if len(s) != len(low) {
		return false
	}
	if s == low {
		return true
	}
	for i := 0; i < len(s); i++ {
		if toLower(s[i]) != low[i] {
			return false
		}
	}
	return true
}

// compareLower compares s, lowercased, with low.
func compareLower(s, low string) int {
	n := min(len(s), len(low))
	for i := 0; i < n; i++ {
		c := toLower(s[i])
		if c != low[i] {
			if c < low[i] {
				return -1
			}
			return 1
		}
	}
	return len(s) - len(low)
}

// searchLower reports whether name, lowercased, is in sorted.
func searchLower(sorted []string, name string) bool {
	lo, hi := 0, len(sorted)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := compareLower(name, sorted[m]); {
		case c == 0:
			return true
		case c > 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return false
}
