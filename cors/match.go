package cors

import (
	"encoding/binary"
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

// The names of an Access-Control-Request-Headers value, given as its lines,
// are read the way spec B.3 says: split on ",", spaces and tabs trimmed, empty
// items skipped. The loops that read them never allocate; the names are
// substrings of the lines, in their original case.

// cutName splits the next item off a line; name is "" for an empty item.
func cutName(line string) (name, rest string) {
	item := line
	if i := strings.IndexByte(line, ','); i >= 0 {
		item, rest = line[:i], line[i+1:]
	}
	return trimOWS(item), rest
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// scanRequestHeaders makes the bounded first pass over the lines: it reports
// whether their joined size exceeds MaxRequestHeadersSize (stopping as soon as
// it does, so the work is bounded by the cap however many lines there are) and
// otherwise whether they name at least one header.
func scanRequestHeaders(lines []string) (tooLarge, named bool) {
	n := 0
	for i, s := range lines {
		if i > 0 {
			n++ // the "," that joins two lines
		}
		n += len(s)
		if n > MaxRequestHeadersSize {
			return true, false
		}
	}
	for _, s := range lines {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c != ',' && c != ' ' && c != '\t' {
				return false, true
			}
		}
	}
	return false, false
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

// acahCap bounds the length of the Access-Control-Allow-Headers value for
// lines from above, without reading the names: each "," may become ", ", and
// lines are joined by ", ".
func acahCap(lines []string) int {
	n := 2 * (len(lines) - 1)
	for _, s := range lines {
		n += len(s) + strings.Count(s, ",")
	}
	return n
}

// echoable returns the one line of the list that names headers when it is
// already the Access-Control-Allow-Headers value: lowercase names joined by
// ", ", with nothing around them. Browsers send a single name in that form.
func echoable(lines []string) (string, bool) {
	var line string
	for _, s := range lines {
		if strings.Trim(s, ", \t") == "" {
			continue
		}
		if line != "" {
			return "", false
		}
		line = s
	}
	if line == "" || line[0] == ' ' || line[0] == ',' || line[len(line)-1] == ' ' || line[len(line)-1] == ',' {
		return "", false
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case 'A' <= c && c <= 'Z', c == '\t', c == ' ':
			return "", false
		case c == ',':
			// Exactly ", " and then a name.
			if i+2 >= len(line) || line[i+1] != ' ' {
				return "", false
			}
			if n := line[i+2]; n == ' ' || n == '\t' || n == ',' {
				return "", false
			}
			i++
		}
	}
	return line, true
}

// appendACAH appends the Access-Control-Allow-Headers value (spec B.4): the
// requested names lowercased, in request order, joined by ", ".
func appendACAH(b []byte, lines []string) []byte {
	start := len(b)
	for _, s := range lines {
		for s != "" {
			var name string
			if name, s = cutName(s); name == "" {
				continue
			}
			if len(b) > start {
				b = append(b, ", "...)
			}
			b = append(b, name...)
		}
	}
	lowerInPlace(b[start:])
	return b
}

// lowerInPlace lowercases the ASCII letters of b, eight bytes at a time:
// a loop over every byte would cost as much as the rest of the response.
func lowerInPlace(b []byte) {
	const (
		ones = 0x0101010101010101
		high = 0x80 * ones
	)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		// For a byte x below 0x80, x+0x3f has its high bit set when x >= 'A'
		// and x+0x25 when x > 'Z'; neither sum carries into the next byte.
		// Bytes from 0x80 up are left out by the last mask.
		low7 := w &^ high
		upper := (low7 + 0x3f*ones) &^ (low7 + 0x25*ones) &^ w & high
		binary.LittleEndian.PutUint64(b[i:], w|upper>>2)
	}
	for ; i < len(b); i++ {
		b[i] = toLower(b[i])
	}
}
