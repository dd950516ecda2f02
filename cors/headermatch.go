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
// least halves the keys below; a walk takes O(log keys) paths.
//
// A policy with only a few patterns keeps them in a list instead
// (fewHeaders), and a long header list remembers the names it has matched
// (headerlist.go), so that a name repeated costs a lookup.

// headerIndex finds the rules whose AllowedHeader patterns match a name.
type headerIndex struct {
	text   string // the paths' texts, lowercase (reversed in the suffix tree)
	prefix tree
	suffix tree // empty without "*x" patterns

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
	segs [maxPaths]struct{ first, last int32 }
	n    int   // segments filled
	k    int   // the segment of sv
	sv   int32 // the current mark, or -1
}

// maxPaths bounds the paths a walk takes: each light child has at most half
// the keys of its parent, and an index has fewer than 2^32 keys.
const maxPaths = 33

// climb moves h from the first mark of its segment to the last mark
// within reach of an earlier segment, or to none.
func (x *headerIndex) climb(h *suffixHits) {
	h.sv = -1
	for h.k--; h.k >= 0; h.k-- {
		if s := h.segs[h.k]; s.last >= s.first {
			h.sv = s.last
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
	p, d := int32(0), 0
	for {
		path := &x.prefix.paths[p]
		var reached int
		if m < 8 {
			reached = d + x.matchWord(short>>(8*d), m-d, path)
		} else {
			reached = d + x.match(name, d, path)
		}
		ms := marks[path.mark0:path.mark1]
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
			// Only suffixes that leave room for the prefix pair with it:
			// step back through the marks of the current suffix path, and
			// look further up only when they run out.
			sv := h.sv
			for sv >= 0 && int(ends[sv].depth) > m-md {
				if sv > h.segs[h.k].first {
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
		if p = x.prefix.light(path, int32(reached-d), toLower(name[reached])); p < 0 {
			break
		}
		d = reached
	}
	return sets[always].or(sets[exact]).or(seg)
}

// findSuffixes fills h with the suffixes of name that end patterns'
// suffixes, walking the suffix tree backwards from the end of name.
func (x *headerIndex) findSuffixes(name string, short uint64, h *suffixHits) {
	h.n, h.k, h.sv = 0, -1, -1
	if x.suffix.paths == nil {
		return
	}
	p, d := int32(0), 0 // the last d bytes of name are read
	for {
		path := &x.suffix.paths[p]
		var reached int
		if m := len(name); m < 8 {
			// The bytes left, backwards, at the bottom of the word.
			reached = d + x.matchWord(bits.ReverseBytes64(short<<(8*(8-m+d))), m-d, path)
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
			h.k, h.sv = h.n, lo-1
		}
		h.n++
		if reached == len(name) || h.n == len(h.segs) {
			return
		}
		if p = x.suffix.light(path, int32(reached-d), toLower(name[len(name)-1-reached])); p < 0 {
			return
		}
		d = reached
	}
}

// fewHeaders holds the AllowedHeader patterns of a policy that has few of
// them (fewPatterns), lowercased, to be matched one after another.
type fewHeaders struct {
	text string // the patterns' texts, without their "*"
	pats []fewPattern
}

// fewPattern is an exact name text[off:off+plen], or a pattern whose text
// before the "*" is text[off:off+plen] and after it the slen bytes that
// follow, and the rule that has it.
type fewPattern struct {
	off        uint32
	plen, slen uint16
	rule       uint8
	wild       bool
}

// allowing returns the rules with a pattern that matches name.
func (f *fewHeaders) allowing(name string) ruleSet {
	var got ruleSet
	for _, q := range f.pats {
		prefix := f.text[q.off : q.off+uint32(q.plen)]
		if !q.wild {
			if equalLower(name, prefix) {
				got.add(int(q.rule))
			}
			continue
		}
		suffix := f.text[q.off+uint32(q.plen) : q.off+uint32(q.plen)+uint32(q.slen)]
		if len(name) >= len(prefix)+len(suffix) && equalLower(name[:len(prefix)], prefix) && equalLower(name[len(name)-len(suffix):], suffix) {
			got.add(int(q.rule))
		}
	}
	return got
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
	n := min(len(name)-d, int(p.n))
	text, off := x.text, int(p.off)
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

// matchWord returns how many bytes of the path p the r bytes at the bottom
// of w match, for a name shorter than a word.
func (x *headerIndex) matchWord(w uint64, r int, p *heavyPath) int {
	n := min(r, int(p.n), 8)
	if diff := w ^ load64(x.text, int(p.off)); diff != 0 {
		return min(bits.TrailingZeros64(diff)/8, n)
	}
	return n
}

// matchReversed is match for the suffix tree: the name is read backwards
// from its end, less the d bytes already read.
func (x *headerIndex) matchReversed(name string, d int, p *heavyPath) int {
	end := len(name) - d
	n := min(end, int(p.n))
	text, off := x.text, int(p.off)
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
