package cors

// A header list is matched name by name against the candidate rules; see
// headermatch.go for how one name is matched.

// firstAllowing returns the lowest rule of cands that allows every name
// listed in lines, or -1 and the first listed name that the lowest rule of
// cands does not allow (Decision.DeniedHeader). cands is not empty.
func (p *Policy) firstAllowing(cands ruleSet, lines []string) (int, string) {
	if r := cands.first(); cands.single() && (p.anyHeader.has(r) || p.headers.listed(r)) {
		// The usual case: one candidate, with few patterns. Whether it
		// allows each name decides, and nothing else is wanted.
		return p.oneAllowing(r, lines)
	}
	st := listMatch{lines: lines, c0: cands.first(), alive: cands}
	if p.headers.indexed() == nil {
		// A few patterns cost less to match than to remember.
		p.matchNames(&st, nil, nil, -1)
	} else {
		p.matchIndexed(&st)
	}
	if st.alive.empty() {
		return -1, st.denied
	}
	return st.alive.first(), ""
}

// oneAllowing is firstAllowing for one candidate r that allows every
// header or has all its patterns listed: at most fewPatterns compared with
// each name.
func (p *Policy) oneAllowing(r int, lines []string) (int, string) {
	if p.anyHeader.has(r) {
		return r, ""
	}
	for _, rest := range lines {
		for rest != "" {
			var name string
			if name, rest = cutName(rest); name != "" && !p.headers.allows(name, r) {
				return -1, name
			}
		}
	}
	return r, ""
}

// cacheFrom is how many names of a list are matched before matching starts
// to remember names: real lists are far shorter, and a long list may repeat
// a name that is costly to match.
const cacheFrom = 32

// listMatch is the state of matching one header list.
type listMatch struct {
	lines  []string // the lines not yet read
	rest   string   // what is left of the line being read
	c0     int      // the lowest candidate
	alive  ruleSet  // the candidates that allow every name so far
	denied string   // the first name that c0 does not allow
}

// matchIndexed matches the names of st through the index: the first as
// they come, the rest of a long list remembering them. Each step has its own
// frame, so that a short list does not pay for setting up the scratch space
// of the index, nor a list of the usual length for the cache's.
func (p *Policy) matchIndexed(st *listMatch) {
	var h suffixHits
	if !p.matchNames(st, &h, nil, cacheFrom) {
		p.matchLongList(st, &h)
	}
}

func (p *Policy) matchLongList(st *listMatch, h *suffixHits) {
	var cache nameCache
	p.matchNames(st, h, &cache, -1)
}

// matchNames matches the next names of st, at most limit of them when limit
// is not negative, remembering them in cache when it is not nil; h is the
// index's scratch space. It reports whether the list is decided: no
// candidate is left, or the lowest one left allows every name, or every
// name is read. Once a long list has been read this far, names are
// remembered: the set a name got stays right for it, as the rules still
// alive only ever shrink.
func (p *Policy) matchNames(st *listMatch, h *suffixHits, cache *nameCache, limit int) bool {
	// The state in locals while the loop runs, so that it stays in
	// registers.
	alive, rest, lines, denied := st.alive, st.rest, st.lines, st.denied
	decided := false
	for {
		// The lowest rule still alive wins once it allows every name:
		// lower ones are out, higher ones cannot come first.
		if p.anyHeader.has(alive.first()) {
			decided = true
			break
		}
		for rest == "" && len(lines) > 0 {
			rest, lines = lines[0], lines[1:]
		}
		if rest == "" {
			decided = true
			break
		}
		if limit == 0 {
			break
		}
		var name string
		if name, rest = cutName(rest); name == "" {
			continue
		}
		limit--
		var allowed ruleSet
		switch c := cache.find(name); {
		case c != nil && c.name != "":
			allowed = c.allowed
		case p.headers.indexed() != nil:
			allowed = p.anyHeader.or(p.headers.index.allowing(name, alive.minus(p.anyHeader), h))
			if c != nil {
				c.name, c.allowed = name, allowed
			}
		case p.headers != nil:
			allowed = p.anyHeader.or(p.headers.allowing(name, alive.minus(p.anyHeader)))
		default:
			allowed = p.anyHeader
		}
		if denied == "" && !allowed.has(st.c0) {
			denied = name
		}
		if alive = alive.and(allowed); alive.empty() {
			decided = true
			break
		}
	}
	st.alive, st.rest, st.lines, st.denied = alive, rest, lines, denied
	return decided
}

// nameCache remembers, by a hash of their ends, the sets that names got: a
// slot holds the last name that fell into it.
type nameCache [512]struct {
	name    string
	allowed ruleSet
}

// find returns the slot of name: holding it, empty, or holding another name
// that name should replace. A nil cache has no slots.
func (c *nameCache) find(name string) *struct {
	name    string
	allowed ruleSet
} {
	if c == nil {
		return nil // inline: most lists are too short for a cache
	}
	return c.slot(name)
}

func (c *nameCache) slot(name string) *struct {
	name    string
	allowed ruleSet
} {
	var first, last uint64
	if len(name) >= 8 {
		first, last = lower8(load64(name, 0)), lower8(load64(name, len(name)-8))
	} else {
		for i := range len(name) {
			first |= uint64(toLower(name[i])) << (8 * i)
		}
	}
	h := (first*0x9E3779B97F4A7C15 ^ last*0xC2B2AE3D27D4EB4F ^ uint64(len(name))) * 0x165667B19E3779F9
	s := &c[h>>(64-9)]
	if s.name != "" && !sameName(s.name, name) {
		s.name = "" // another name: forget it
	}
	return s
}

// sameName reports whether a and b are the same header name, ignoring case.
func sameName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if toLower(a[i]) != toLower(b[i]) {
			return false
		}
	}
	return true
}

// ruleAllowsHeaders reports whether rule i allows every name listed in
// lines, and otherwise returns the first name it does not allow.
func (p *Policy) ruleAllowsHeaders(i int, lines []string) (bool, string) {
	var one ruleSet
	one.add(i)
	if w, denied := p.firstAllowing(one, lines); w < 0 {
		return false, denied
	}
	return true, ""
}
