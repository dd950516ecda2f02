package cors

// A header list is matched name by name against the candidate rules; see
// headermatch.go for how one name is matched.

// headerAllowing returns rules that allow name: at least those of want that
// do. h is scratch space for the index.
func (p *Policy) headerAllowing(name string, want ruleSet, h *suffixHits) ruleSet {
	switch {
	case p.headers != nil:
		return p.headers.allowing(name, want, h)
	case p.few != nil:
		return p.few.allowing(name)
	}
	return ruleSet{}
}

// firstAllowing returns the lowest rule of cands that allows every name
// listed in lines, or -1 and the first listed name that the lowest rule of
// cands does not allow (Decision.DeniedHeader). cands is not empty.
func (p *Policy) firstAllowing(cands ruleSet, lines []string) (int, string) {
	st := listMatch{lines: lines, c0: cands.first(), alive: cands}
	if !p.matchNames(&st, nil, cacheFrom) {
		p.matchLongList(&st)
	}
	if st.alive.empty() {
		return -1, st.denied
	}
	return st.alive.first(), ""
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
	hits   suffixHits
}

// matchNames matches the next names of st, at most limit of them when limit
// is not negative, remembering them in cache when it is not nil. It reports
// whether the list is decided: no candidate is left, or the lowest one left
// allows every name, or every name is read.
func (p *Policy) matchNames(st *listMatch, cache *nameCache, limit int) bool {
	for {
		// The lowest rule still alive wins once it allows every name:
		// lower ones are out, higher ones cannot come first.
		if p.anyHeader.has(st.alive.first()) {
			return true
		}
		for st.rest == "" {
			if len(st.lines) == 0 {
				return true
			}
			st.rest, st.lines = st.lines[0], st.lines[1:]
		}
		if limit == 0 {
			return false
		}
		var name string
		if name, st.rest = cutName(st.rest); name == "" {
			continue
		}
		limit--
		allowed := p.anyHeader
		if c := cache.find(name); c != nil && c.name != "" {
			allowed = c.allowed
		} else {
			allowed = allowed.or(p.headerAllowing(name, st.alive.minus(p.anyHeader), &st.hits))
			if c != nil {
				c.name, c.allowed = name, allowed
			}
		}
		st.alive = st.alive.and(allowed)
		if st.denied == "" && !allowed.has(st.c0) {
			st.denied = name
		}
		if st.alive.empty() {
			return true
		}
	}
}

// matchLongList matches the rest of a long list, remembering the names it
// has matched. The set a name got stays right for it: the rules still
// alive only ever shrink.
func (p *Policy) matchLongList(st *listMatch) {
	if p.headers == nil {
		// A few patterns cost less to match than to remember.
		p.matchNames(st, nil, -1)
		return
	}
	var cache nameCache
	p.matchNames(st, &cache, -1)
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
		return nil
	}
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
