package cors

import "math/bits"

// Requested headers are matched against every rule at once. A policy holds
// one index of all its AllowedHeader patterns, lowercased: exact names and
// the text before a "*" in a tree of prefixes, the text after a "*" in a tree
// of reversed suffixes. One walk down each tree along a requested name yields
// the set of rules with a pattern that matches it, so a preflight costs the
// length of its header list times a small constant, whatever the policy: not
// the list times the patterns. The caller ANDs the per-name sets with the
// candidate rules and stops as soon as none is left.
//
// A pattern p*s matches a name n when n starts with p, ends with s, and
// len(p)+len(s) <= len(n) (spec B.3). While the walk down the prefix tree
// reaches the prefixes of n, the suffixes of n are found by one walk down
// the suffix tree. For a prefix p the suffixes that may pair with it are the
// suffixes of n no longer than len(n)-len(p): the deepest such suffix is
// found by climbing from the deepest suffix of n, and for each prefix the
// rules of every pattern p*s with s that suffix or a suffix of it are
// precomputed by rank of suffix, in a run: a table, or bits counted when a
// table would be sparse. One lookup per prefix of n that has such patterns.
//
// Each tree is stored as heavy paths: from every node the path goes on to
// the child with the most keys below it, so a walk compares the name with a
// path eight bytes at a time and leaves it only for a light child, which at
// least halves the keys below; a walk takes O(log keys) paths. A tree that
// branches at almost every byte near its root also has a probe table: the
// position of a name's first eight bytes (last, in the suffix tree) found
// by hashing them, with what a walk would have collected on its way there.
//
// A policy with only a few patterns keeps them in a list instead
// (headerPatterns), as it does those of each rule that has few, which are
// matched without the index when that rule is the only candidate, the
// usual case; and a long header list remembers the names it has matched
// (headerlist.go), so that a name repeated costs a lookup.

// headerIndex finds the rules whose AllowedHeader patterns match a name.
type headerIndex struct {
	text   string // the paths' texts, lowercase (reversed in the suffix tree)
	prefix tree
	suffix tree // empty without "*x" patterns

	root  int32        // the mark of the prefix tree's root, or -1
	marks []prefixMark // the prefix paths' nodes that are a pattern's prefix
	ends  []suffixMark // the suffix paths' nodes that are a pattern's suffix

	table []uint16 // the tables of runs: a set for each rank
	// The sparse runs: a bit for each rank where a segment starts, the
	// number of such bits in the words before, and each segment's set.
	bits   []uint64
	before []uint16
	segVal []uint16

	sets []ruleSet // the distinct rule sets of the index; [0] is empty
}

// tree is a tree of heavy paths; paths[0] starts at the root.
type tree struct {
	paths  []heavyPath
	lights []lightGroup // by path, then offset
	// For a path with light children at most of its offsets: the index in
	// lights of the group at each offset, or -1; indexed from the path's
	// dense field.
	groupAt []int32
	probe   probeTable // for a tree that branches near its root; else empty
}

// heavyPath is a path of the tree, starting at depth start with the text
// text[off:off+n]. Its nodes that carry something are marks[mark0:mark1]
// (or ends[mark0:mark1]), by depth, and the children that leave it are in
// lights[light0:light1].
type heavyPath struct {
	off, n, start  int32
	mark0, mark1   int32
	light0, light1 int32
	dense          int32 // where its offsets start in groupAt, or -1
}

// lightGroup holds the children that leave a path at the node at offset
// off: the first bytes of their texts, as a bit set, and the paths that
// start with them, path0 onwards in the order of those bytes, so that the
// bits below a byte count the paths before its own.
type lightGroup struct {
	off, path0 int32
	set        [4]uint64
}

// prefixMark is a node of the prefix tree: indices into sets of the rules
// with a pattern "<p>*" for p the node's text or a prefix of it, and of the
// rules with an AllowedHeader equal to its text; and the run of its
// patterns "<p>*<s>", empty (no rules) when it has none.
type prefixMark struct {
	segRun
	depth         int32
	always, exact uint16
}

// suffixMark is a node of the suffix tree that ends a pattern's suffix: its
// rank, in preorder among such nodes, and the nearest of them above it, or
// -1.
type suffixMark struct {
	depth, rank, up int32
}

// segRun holds, for one prefix node, the rules of its patterns by the rank
// of a suffix node: for the ranks lo to lo+n-1, either a table
// (table[off:off+n]) or, when a table would be sparse, the segments where
// the value changes, found by counting bits (bits and before from words,
// segVal from off); the ranks above take tail, and those below none.
type segRun struct {
	rules             ruleSet // the union of the run's rules
	lo, n, off, words int32
	tail              uint16 // the set past the end
	sparse            bool
}

// runSet returns the set of the run at rank r: the rules of every pattern of
// the run's prefix whose suffix is the text of the node of rank r or a
// suffix of it.
func (x *headerIndex) runSet(run *segRun, r int32) uint16 {
	i := r - run.lo
	switch {
	case i < 0:
		return 0
	case i >= run.n:
		return run.tail
	case !run.sparse:
		return x.table[run.off+i]
	}
	w := run.words + i>>6
	count := int32(x.before[w]) + int32(bits.OnesCount64(x.bits[w]<<(63-uint(i&63))))
	return x.segVal[run.off+count-1]
}

// light returns the path that leaves path p at offset off with byte c, or
// -1. A path whose nodes mostly branch finds its group by offset; on
// another, the walk has just matched off bytes, and there is at most one
// group per byte before off, so a scan from the start costs no more than the
// match, and predicts better than a binary search.
func (t *tree) light(p *heavyPath, off int32, c byte) int32 {
	var g *lightGroup
	if p.dense >= 0 {
		i := t.groupAt[p.dense+off]
		if i < 0 {
			return -1
		}
		g = &t.lights[i]
	} else {
		gs := t.lights[p.light0:p.light1]
		i := 0
		for i < len(gs) && gs[i].off < off {
			i++
		}
		if i == len(gs) || gs[i].off != off {
			return -1
		}
		g = &gs[i]
	}
	w, bit := c>>6, uint64(1)<<(c&63)
	if g.set[w]&bit == 0 {
		return -1
	}
	k := bits.OnesCount64(g.set[w] & (bit - 1))
	for j := range w {
		k += bits.OnesCount64(g.set[j])
	}
	return g.path0 + int32(k)
}

// suffixHits is what the walk down the suffix tree found for one name: on
// each path it took, in order, the marks within reach (first to last, none
// when last < first). The marks of a path are consecutive and by depth, so
// climbing from the deepest suffix of the name to a shorter one steps back
// through them without following pointers.
type suffixHits struct {
	segs  [maxPaths]struct{ first, last int32 }
	n     int   // segments filled
	k     int   // the segment of sv
	sv    int32 // the current mark, or -1
	first int32 // the first mark of segment k
}

// maxPaths bounds the paths a walk takes: each light child has at most half
// the keys of its parent, and an index has fewer than 2^32 keys.
const maxPaths = 33

// climb moves h from the first mark of its segment to the last mark
// within reach of an earlier segment, or to none. It is kept out of line,
// so that within, which seldom calls it, is inlined.
//
//go:noinline
func (x *headerIndex) climb(h *suffixHits) {
	h.sv = -1
	for h.k--; h.k >= 0; h.k-- {
		if s := h.segs[h.k]; s.last >= s.first {
			h.sv, h.first = s.last, s.first
			return
		}
	}
}

// allowing returns rules of the index that allow name: at least those of
// want that do, and maybe others. name is not empty; h is scratch space.
func (x *headerIndex) allowing(name string, want ruleSet, h *suffixHits) ruleSet {
	var seg ruleSet // rules found through runs
	m := len(name)
	// A name shorter than a word is read once, lowercased.
	var short uint64
	if m < 8 {
		short = lower8(loadShort(name))
	}
	always, exact := uint16(0), uint16(0)
	found := false // whether h holds name's suffixes
	marks, ends, sets := x.marks, x.ends, x.sets
	p, d, skip := int32(0), 0, -1 // the marks up to depth skip are taken
	if t := &x.prefix.probe; t.slots != nil {
		// The first bytes through the probe table.
		if x.root >= 0 {
			mk := &marks[x.root]
			always = mk.always
			if mk.rules.intersects(want) {
				x.findSuffixes(name, short, h)
				found = true
				if sv := h.sv; sv >= 0 { // every suffix of the name leaves room for ""
					seg = sets[x.runSet(&mk.segRun, ends[sv].rank)]
				}
			}
		}
		word := short
		if m >= 8 {
			word = lower8(load64(name, 0))
		}
		n := min(m, t.depth)
		s, l := t.deepest(word, n)
		if s != nil {
			always = s.always
			if l == m {
				exact = s.exact
			}
			for _, i := range t.route[s.route>>5 : s.route>>5+s.route&31] {
				mk := &marks[i]
				md := int(mk.depth)
				if md == m || !mk.rules.intersects(want.minus(seg)) {
					continue // no pair fits in the name, or none is wanted
				}
				if !found {
					x.findSuffixes(name, short, h)
					found = true
				}
				sv := h.sv
				if sv >= 0 && int(ends[sv].depth) > m-md {
					sv = x.within(h, m-md)
				}
				if sv >= 0 {
					seg = seg.or(sets[x.runSet(&mk.segRun, ends[sv].rank)])
				}
			}
			p = int32(s.pathDepth >> 4)
		}
		if l < n || l == m {
			return sets[always].or(sets[exact]).or(seg) // the name leaves the tree, or is read
		}
		d, skip = n, n
	}
	for {
		path := &x.prefix.paths[p]
		var reached int
		if m < 8 {
			reached = d + x.matchWord(short>>(8*d), m-d, path, d-int(path.start))
		} else {
			reached = d + x.match(name, d, path)
		}
		ms := marks[path.mark0:path.mark1]
		if skip >= 0 {
			// The path the probe table left off on: its marks up to
			// there are taken.
			for len(ms) > 0 && int(ms[0].depth) <= skip {
				ms = ms[1:]
			}
			skip = -1
		}
		for i := range ms {
			mk := &ms[i]
			md := int(mk.depth)
			if md > reached {
				break
			}
			always = mk.always
			if md == m {
				exact = mk.exact
				break
			}
			if !mk.rules.intersects(want.minus(seg)) {
				continue // no run, or none of its rules is wanted
			}
			if !found {
				x.findSuffixes(name, short, h)
				found = true
			}
			// within, inline: chains of prefixes, each pairing with a
			// shorter suffix, step back at every mark.
			sv := h.sv
			for sv >= 0 && int(ends[sv].depth) > m-md {
				if sv > h.first {
					sv--
				} else {
					x.climb(h)
					sv = h.sv
				}
			}
			h.sv = sv
			if sv >= 0 {
				seg = seg.or(sets[x.runSet(&mk.segRun, ends[sv].rank)])
			}
		}
		if reached == m {
			break
		}
		if p = x.prefix.light(path, int32(reached)-path.start, toLower(name[reached])); p < 0 {
			break
		}
		d = reached
	}
	return sets[always].or(sets[exact]).or(seg)
}

// within returns the deepest suffix of the name that h holds no longer
// than limit, as its mark, or -1: only suffixes that leave room for a
// prefix pair with it, and as the prefixes taken grow the limit shrinks, so
// h steps back through the marks of the current suffix path and climbs to
// an earlier path only when they run out.
func (x *headerIndex) within(h *suffixHits, limit int) int32 {
	for h.sv >= 0 && int(x.ends[h.sv].depth) > limit {
		if h.sv > h.first {
			h.sv--
		} else {
			x.climb(h)
		}
	}
	return h.sv
}

// probeTable finds the positions of a tree at depths 1 to depth by their
// text: in a tree that branches near its root at almost every byte, a walk
// would change path at each byte, one load waiting on another. The deepest
// position among a name's first bytes is found in one lookup when the name
// is in the tree to the table's depth, and by halving the depths else
// (positions are the prefixes of keys: if one is in the tree so are those
// above it); its slot holds what the walk would have collected on the way.
//
// The hash mixes the word with a mask and two odd multipliers drawn at
// random for each table, so that a document cannot be built to make its
// positions collide, and the table is rebuilt with others when a run of
// full slots, which a lookup may scan, comes out longer than probeMaxRun.
type probeTable struct {
	slots []probeSlot // open addressing; a slot with pathDepth 0 is empty
	// The slots' routes: in the prefix tree the marks on the way down
	// that have runs, by depth; in the suffix tree the segments of
	// suffixHits, first and last, that are not empty.
	route      []int32
	mix        uint64 // the hash's random mask and odd multipliers
	mul1, mul2 uint64
	mask       uint64 // len(slots)-1
	shift      uint8  // the hash's top bits pick a slot
	depth      int
}

// probeSlot is the position of the tree whose text is the l bytes of word
// (zero above them): on path pathDepth>>4, at depth l = pathDepth&15, with
// its route, route[route>>5:][:route&31]. In the prefix tree it also holds
// the rules of the deepest mark on the way (always) and of an exact name
// there (exact), as indices into sets.
type probeSlot struct {
	word          uint64
	pathDepth     uint32
	route         uint32
	always, exact uint16
}

// slot returns where the search for the l bytes of word starts.
func (t *probeTable) slot(word uint64, l int) uint64 {
	h := (word ^ t.mix ^ uint64(l)) * t.mul1
	h ^= h >> 29
	return h * t.mul2 >> t.shift
}

// find returns the slot of the l bytes of word, or nil.
func (t *probeTable) find(word uint64, l int) *probeSlot {
	for i := t.slot(word, l); ; i++ {
		s := &t.slots[i&t.mask]
		if s.word == word && s.pathDepth&15 == uint32(l) {
			return s
		}
		if s.pathDepth == 0 {
			return nil
		}
	}
}

// deepest returns the slot of the longest of the first n bytes of word
// that is in the tree, and its length; nil and 0 when none is.
func (t *probeTable) deepest(word uint64, n int) (*probeSlot, int) {
	if s := t.find(word&(^uint64(0)>>(64-8*n)), n); s != nil {
		return s, n
	}
	var got *probeSlot
	lo, hi := 0, n // lo bytes are in the tree, hi are not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if s := t.find(word&(^uint64(0)>>(64-8*mid)), mid); s != nil {
			got, lo = s, mid
		} else {
			hi = mid
		}
	}
	return got, lo
}

// findSuffixes fills h with the suffixes of name that end patterns'
// suffixes, walking the suffix tree backwards from the end of name.
func (x *headerIndex) findSuffixes(name string, short uint64, h *suffixHits) {
	h.n, h.k, h.sv = 0, -1, -1
	if x.suffix.paths == nil {
		return
	}
	p, d := int32(0), 0 // the last d bytes of name are read
	if t := &x.suffix.probe; t.slots != nil {
		// The last bytes through the probe table, a segment for each path
		// they are on.
		m := len(name)
		var word uint64 // the last bytes, backwards
		if m >= 8 {
			word = bits.ReverseBytes64(lower8(load64(name, m-8)))
		} else {
			word = bits.ReverseBytes64(short << (8 * (8 - m)))
		}
		n := min(m, t.depth)
		s, l := t.deepest(word, n)
		if s != nil {
			r := t.route[s.route>>5 : s.route>>5+s.route&31]
			for i := 0; i < len(r); i += 2 {
				h.segs[h.n].first, h.segs[h.n].last = r[i], r[i+1]
				h.n++
			}
			if h.n > 0 {
				h.k, h.sv, h.first = h.n-1, r[len(r)-1], r[len(r)-2]
			}
			p = int32(s.pathDepth >> 4)
		}
		if l < n || l == m {
			return // the name leaves the tree, or is read
		}
		// The walk goes on along the last path, and redoes its segment
		// (the segments of other paths start at other marks).
		d = n
		if h.n > 0 && h.segs[h.n-1].first == x.suffix.paths[p].mark0 {
			h.n--
		}
	}
	for {
		path := &x.suffix.paths[p]
		var reached int
		if m := len(name); m < 8 {
			// The bytes left, backwards, at the bottom of the word.
			reached = d + x.matchWord(bits.ReverseBytes64(short<<(8*(8-m+d))), m-d, path, d-int(path.start))
		} else {
			reached = d + x.matchReversed(name, d, path)
		}
		// The marks within reach: a scan over a few, a binary search over
		// the many of a long path.
		lo, hi := path.mark0, path.mark1
		if hi-lo > 8 {
			for lo < hi {
				mid := int32(uint32(lo+hi) >> 1)
				if int(x.ends[mid].depth) <= reached {
					lo = mid + 1
				} else {
					hi = mid
				}
			}
		} else {
			for lo < hi && int(x.ends[lo].depth) <= reached {
				lo++
			}
		}
		h.segs[h.n].first, h.segs[h.n].last = path.mark0, lo-1
		if lo > path.mark0 {
			h.k, h.sv, h.first = h.n, lo-1, path.mark0
		}
		h.n++
		if reached == len(name) || h.n == len(h.segs) {
			return
		}
		if p = x.suffix.light(path, int32(reached)-path.start, toLower(name[len(name)-1-reached])); p < 0 {
			return
		}
		d = reached
	}
}

// headerPatterns holds the AllowedHeader patterns of the rules that have few of
// them (fewPatterns), lowercased, to be matched one after another: every
// rule's when the policy has few, and then this is all it has; else, those
// of a rule that has few, to match them without the index when it is the
// only candidate.
type headerPatterns struct {
	text  string // the patterns' texts, without their "*"
	pats  []fewPattern
	rules []ruleList   // by rule
	index *headerIndex // every rule's patterns, when the policy has many
}

// indexed returns the index, or nil; a nil headerPatterns has none.
func (f *headerPatterns) indexed() *headerIndex {
	if f == nil {
		return nil
	}
	return f.index
}

// ruleList is where a rule's patterns are in pats: its exact names in
// [start, exact), its one-"*" patterns in [exact, end); listed is false for
// a rule with too many, which only the index holds.
type ruleList struct {
	start, exact, end uint16
	listed            bool
}

// fewPattern is an exact name text[off:off+plen], or a pattern whose text
// before the "*" is text[off:off+plen] and after it the slen bytes that
// follow, and the rule that has it.
type fewPattern struct {
	off        uint32
	plen, slen uint16
	rule       uint8
}

// allowing returns rules with a pattern that matches name: at least those
// of want that do. It stops looking at a rule once one of its patterns
// matches, and at all once every rule of want does.
func (f *headerPatterns) allowing(name string, want ruleSet) ruleSet {
	var got ruleSet
	for w := want; ; {
		r := w.next()
		if r < 0 {
			return got
		}
		if f.allows(name, r) {
			got.add(r)
		}
	}
}

// allows reports whether rule r has a pattern that matches name; r is
// listed, or has no patterns. A nil list has none.
func (f *headerPatterns) allows(name string, r int) bool {
	if f == nil {
		return false
	}
	l := f.rules[r]
	for i := l.start; i < l.exact; i++ {
		if q := &f.pats[i]; int(q.plen) == len(name) && equalLower(name, f.text[q.off:q.off+uint32(q.plen)]) {
			return true
		}
	}
	for i := l.exact; i < l.end; i++ {
		if f.wildMatches(&f.pats[i], name) {
			return true
		}
	}
	return false
}

// listed reports whether the patterns of rule r are all in the list.
func (f *headerPatterns) listed(r int) bool { return f == nil || f.rules[r].listed }

// wildMatches reports whether the one-"*" pattern q matches name.
func (f *headerPatterns) wildMatches(q *fewPattern, name string) bool {
	suffix := q.off + uint32(q.plen)
	return int(q.plen)+int(q.slen) <= len(name) && equalLower(name[:q.plen], f.text[q.off:suffix]) &&
		equalLower(name[len(name)-int(q.slen):], f.text[suffix:suffix+uint32(q.slen)])
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

// match returns how many bytes of the path p the name matches from its
// byte d on, lowercased, comparing eight bytes at a time: the index's text
// has eight bytes of padding, so the last word of a path may be read whole.
func (x *headerIndex) match(name string, d int, p *heavyPath) int {
	k := d - int(p.start) // the bytes of the path already matched
	n := min(len(name)-d, int(p.n)-k)
	text, off := x.text, int(p.off)+k
	i := 0
	for ; i < n; i += 8 {
		var w uint64
		if r := len(name) - d - i; r >= 8 {
			w = load64(name, d+i)
		} else if len(name) >= 8 {
			// The name's last r bytes, at the bottom of the word.
			w = load64(name, len(name)-8) >> (8 * (8 - r))
		} else {
			w = loadShort(name[d+i:])
		}
		if diff := lower8(w) ^ load64(text, off+i); diff != 0 {
			return min(i+bits.TrailingZeros64(diff)/8, n)
		}
	}
	return n
}

// matchWord returns how many bytes of the path p from its byte k on the r
// bytes at the bottom of w match, for a name shorter than a word.
func (x *headerIndex) matchWord(w uint64, r int, p *heavyPath, k int) int {
	n := min(r, int(p.n)-k, 8)
	if diff := w ^ load64(x.text, int(p.off)+k); diff != 0 {
		return min(bits.TrailingZeros64(diff)/8, n)
	}
	return n
}

// matchReversed is match for the suffix tree: the name is read backwards
// from its end, less the d bytes already read.
func (x *headerIndex) matchReversed(name string, d int, p *heavyPath) int {
	k := d - int(p.start) // the bytes of the path already matched
	end := len(name) - d
	n := min(end, int(p.n)-k)
	text, off := x.text, int(p.off)+k
	i := 0
	for ; i < n; i += 8 {
		var w uint64
		if r := end - i; r >= 8 {
			w = bits.ReverseBytes64(load64(name, r-8))
		} else if len(name) >= 8 {
			// name[:r] backwards, at the bottom of the word.
			w = bits.ReverseBytes64(load64(name, 0) << (8 * (8 - r)))
		} else {
			w = bits.ReverseBytes64(loadShort(name[:r]) << (8 * (8 - r)))
		}
		if diff := lower8(w) ^ load64(text, off+i); diff != 0 {
			return min(i+bits.TrailingZeros64(diff)/8, n)
		}
	}
	return n
}

// loadShort reads s, shorter than eight bytes, as the bottom of a
// little-endian word.
func loadShort(s string) uint64 {
	var w uint64
	for i := len(s) - 1; i >= 0; i-- {
		w = w<<8 | uint64(s[i])
	}
	return w
}

// load64 reads s[i:i+8] as a little-endian word; the compiler makes it one
// load.
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
