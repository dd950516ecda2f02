package cors

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
)

// fewPatterns is how many AllowedHeader patterns a policy, or a rule, may
// have and still have them matched one after another: for so few that costs
// no more than walking an index, and takes a tenth of the memory.
const fewPatterns = 16

// compileHeaders compiles the AllowedHeader patterns of rules (at most
// ruleSetCap of them) that do not allow every header: those of each rule
// with few into a list, and, when the policy has more than few, all of
// them into an index; nil when there are none.
func compileHeaders(rules []Rule) *headerPatterns {
	// A rule's exact names and its one-"*" patterns, as texts without
	// the "*" and the length of what precedes it.
	type pattern struct {
		text       string
		plen, slen int
	}
	total, size := 0, 0
	for i := range rules {
		if !slices.Contains(rules[i].AllowedHeaders, "*") {
			total += len(rules[i].AllowedHeaders)
			for _, h := range rules[i].AllowedHeaders {
				size += len(h)
			}
		}
	}
	if total == 0 {
		return nil
	}
	// The index's keys, only when there is to be an index.
	var exact, always map[string]ruleSet
	var pairs map[[2]string]ruleSet // by prefix and non-empty suffix
	if total > fewPatterns {
		exact, always, pairs = map[string]ruleSet{}, map[string]ruleSet{}, map[[2]string]ruleSet{}
	}
	few := &headerPatterns{pats: make([]fewPattern, 0, min(total, fewPatterns)), rules: make([]ruleList, len(rules))}
	text := make([]byte, 0, min(size, 64*fewPatterns))
	var names, wild []pattern
	total = 0
	for i := range rules {
		if slices.Contains(rules[i].AllowedHeaders, "*") {
			continue
		}
		names, wild = names[:0], wild[:0]
		for _, h := range rules[i].AllowedHeaders {
			l := lowerASCII(h)
			star := strings.IndexByte(l, '*')
			switch {
			case star < 0:
				if exact != nil {
					exact[l] = exact[l].with(i)
				}
				names = append(names, pattern{l, len(l), 0})
				continue
			case strings.IndexByte(l[star+1:], '*') >= 0:
				continue // more than one "*" fails validation; it matches nothing
			case exact == nil:
			case star == len(l)-1:
				always[l[:star]] = always[l[:star]].with(i)
			default:
				k := [2]string{l[:star], l[star+1:]}
				pairs[k] = pairs[k].with(i)
			}
			wild = append(wild, pattern{l[:star] + l[star+1:], star, len(l) - star - 1})
		}
		total += len(names) + len(wild)
		if len(names)+len(wild) > fewPatterns {
			continue // in the index only
		}
		at := uint16(len(few.pats))
		for _, q := range append(names, wild...) { // names has room: reused
			few.pats = append(few.pats, fewPattern{off: uint32(len(text)), plen: uint16(q.plen), slen: uint16(q.slen), rule: uint8(i)})
			text = append(text, q.text...)
		}
		few.rules[i] = ruleList{start: at, exact: at + uint16(len(names)), end: uint16(len(few.pats)), listed: true}
	}
	if total == 0 {
		return nil // only patterns with more than one "*"
	}
	few.text = string(text)
	if exact != nil {
		few.index = buildHeaderIndex(exact, always, pairs)
	}
	return few
}

// buildHeaderIndex builds the index of the exact names, the prefixes of
// "p*" patterns and the pairs of "p*s" patterns, each with its rules.
func buildHeaderIndex(exact, always map[string]ruleSet, pairs map[[2]string]ruleSet) *headerIndex {
	b := indexBuilder{x: &headerIndex{root: -1}, setIDs: map[ruleSet]uint16{{}: 0}}
	b.x.sets = []ruleSet{{}}

	// The suffix tree first: the prefix marks' runs refer to its ranks.
	suffixes := map[string]bool{}
	for k := range pairs {
		suffixes[reverse(k[1])] = true
	}
	if len(suffixes) > 0 {
		b.buildSuffixTree(suffixes)
	}

	prefixes := map[string]bool{}
	for k := range exact {
		prefixes[k] = true
	}
	for k := range always {
		prefixes[k] = true
	}
	suffixesOf := map[string][][2]string{}
	for k := range pairs {
		prefixes[k[0]] = true
		suffixesOf[k[0]] = append(suffixesOf[k[0]], k)
	}
	keys := sortedKeys(prefixes)
	nodes, texts := radix(keys)
	cum := make([]ruleSet, len(nodes)) // "always" of each node and its ancestors
	for i, text := range texts {
		cum[i].union(always[text])
		for _, k := range nodes[i].kids {
			cum[k] = cum[i] // a node comes before its children
		}
	}
	x := b.x
	x.prefix = b.paths(nodes, texts, func(i int) {
		text := texts[i]
		if !prefixes[text] {
			return
		}
		mk := prefixMark{depth: int32(len(text)), always: b.set(cum[i]), exact: b.set(exact[text])}
		if ps := suffixesOf[text]; len(ps) > 0 {
			mk.segRun = b.run(ps, pairs)
		}
		x.marks = append(x.marks, mk)
	}, func() int32 { return int32(len(x.marks)) })
	// Padding, so that match may read the last word of any path whole.
	x.text = string(append(b.text, make([]byte, 8)...))
	if ms := x.marks[x.prefix.paths[0].mark0:x.prefix.paths[0].mark1]; len(ms) > 0 && ms[0].depth == 0 {
		x.root = x.prefix.paths[0].mark0
	}
	x.prefix.probe = buildProbe(&x.prefix, x.text, keys, func(pos string, paths []int32) (route []int32, always, exact uint16) {
		// The marks on the way down, as the walk takes them.
		if x.root >= 0 {
			always = x.marks[x.root].always
		}
		for d := 1; d <= len(pos); d++ {
			p := &x.prefix.paths[paths[d-1]]
			for i := p.mark0; i < p.mark1; i++ {
				if mk := &x.marks[i]; int(mk.depth) == d {
					always = mk.always
					if d == len(pos) {
						exact = mk.exact
					}
					if !mk.rules.empty() {
						route = append(route, i)
					}
				}
			}
		}
		return route, always, exact
	})
	return x
}

// Bounds of the probe tables. A table takes the place of the walk for a
// name's first bytes, up to a word: a walk changes path where it leaves
// the heavy path at a node that branches, one load waiting on another, and
// the table costs a lookup, or four when the name leaves the tree within a
// word. It is built when, within its depth, at least probeMinHeads paths
// of the tree start, and they start at a quarter of its positions or more,
// the walk then changing path every few bytes; and it holds at most
// probeMaxPositions positions (24 bytes each, twice over at most, and up to
// 64 bytes of route each): the deepest depth that keeps within that is
// taken.
const (
	probeMaxDepth     = 8
	probeMaxPositions = 1024
	probeMinHeads     = 32
	probeMaxRun       = 64 // full slots in a row, at a load of at most a half
	probeTries        = 4
)

// buildProbe builds the probe table of tree t, whose keys are keys and
// whose paths' texts are in text, or an empty one when the walk costs less.
// info gives what the slot of a position holds, from its text and the
// paths of its text's prefixes of 1 to len(pos) bytes.
func buildProbe(t *tree, text string, keys []string, info func(pos string, paths []int32) (route []int32, always, exact uint16)) probeTable {
	var positions [probeMaxDepth + 1]map[string]bool
	for l := 1; l <= probeMaxDepth; l++ {
		positions[l] = map[string]bool{}
		for _, k := range keys {
			if len(k) >= l {
				positions[l][k[:l]] = true
			}
		}
	}
	var heads [probeMaxDepth + 1]int // light paths, by the depth of their first byte
	for _, p := range t.paths[1:] {
		if d := int(p.start) + 1; d <= probeMaxDepth {
			heads[d]++
		}
	}
	depth, total, starts := 0, 0, 0
	for l := 1; l <= probeMaxDepth && len(positions[l]) > 0 && total+len(positions[l]) <= probeMaxPositions; l++ {
		total, starts, depth = total+len(positions[l]), starts+heads[l], l
	}
	if depth == 0 || starts < probeMinHeads || 4*starts < total {
		return probeTable{}
	}
	size := 2
	for size < 2*total {
		size *= 2
	}
	var pt probeTable
	var all []probeSlot
	pathOf := map[string]int32{}
	routes := map[string]uint32{} // each distinct route once
	for l := 1; l <= depth; l++ {
		for _, pos := range sortedKeys(positions[l]) {
			path := t.locate(text, pos)
			pathOf[pos] = path
			paths := make([]int32, l)
			for d := range l {
				paths[d] = pathOf[pos[:d+1]]
			}
			route, always, exact := info(pos, paths)
			key := fmt.Sprint(route)
			at, ok := routes[key]
			if !ok {
				at = uint32(len(pt.route))<<5 | uint32(len(route))
				routes[key] = at
				pt.route = append(pt.route, route...)
			}
			var word uint64
			for i := l - 1; i >= 0; i-- {
				word = word<<8 | uint64(pos[i])
			}
			all = append(all, probeSlot{word: word, pathDepth: uint32(path)<<4 | uint32(l), route: at, always: always, exact: exact})
		}
	}
	for range probeTries {
		pt.slots = make([]probeSlot, size)
		pt.mix, pt.mul1, pt.mul2 = rand.Uint64(), rand.Uint64()|1, rand.Uint64()|1
		pt.mask, pt.shift, pt.depth = uint64(size-1), uint8(64-bits.Len(uint(size-1))), depth
		for _, q := range all {
			i := pt.slot(q.word, int(q.pathDepth&15))
			for pt.slots[i].pathDepth != 0 {
				i = (i + 1) & pt.mask
			}
			pt.slots[i] = q
		}
		if longestRun(pt.slots) <= probeMaxRun {
			return pt
		}
	}
	return probeTable{} // not seen with a random hash; the walk is bounded too
}

// longestRun returns the most full slots in a row, around the end too.
func longestRun(slots []probeSlot) int {
	best, run := 0, 0
	for i := range 2 * len(slots) {
		if slots[i%len(slots)].pathDepth == 0 {
			run = 0
			continue
		}
		run++
		best = max(best, run)
	}
	return min(best, len(slots))
}

// locate returns the path of t that holds the node or edge at the end of
// pos, a prefix of a key; text holds the paths' texts.
func (t *tree) locate(text, pos string) int32 {
	p, d := int32(0), 0
	for {
		path := &t.paths[p]
		r := d + commonPrefix(pos[d:], text[int(path.off)+d-int(path.start):int(path.off+path.n)])
		if r >= len(pos) {
			return p
		}
		p, d = t.light(path, int32(r)-path.start, pos[r]), r
	}
}

// indexBuilder holds what building an index needs besides the index.
type indexBuilder struct {
	x      *headerIndex
	text   []byte
	setIDs map[ruleSet]uint16
	// The suffix tree's nodes by reversed text, and for each node its rank
	// (-1 for a node that ends no suffix) and the last rank in its subtree.
	suffixNode map[string]int32
	rank, last []int32
}

// set returns the index of s in the index's distinct sets.
func (b *indexBuilder) set(s ruleSet) uint16 {
	if id, ok := b.setIDs[s]; ok {
		return id
	}
	id := uint16(len(b.x.sets))
	b.setIDs[s] = id
	b.x.sets = append(b.x.sets, s)
	return id
}

// buildSuffixTree lays out the tree of the reversed suffixes, ranks the
// nodes that end one in preorder and links each to the nearest above it.
func (b *indexBuilder) buildSuffixTree(suffixes map[string]bool) {
	nodes, texts := radix(sortedKeys(suffixes))
	b.suffixNode = make(map[string]int32, len(texts))
	b.rank = make([]int32, len(nodes))
	b.last = make([]int32, len(nodes))
	up := make([]int32, len(nodes)) // the nearest node above that ends a suffix
	rank := int32(0)
	var walk func(i, above int32)
	walk = func(i, above int32) {
		b.suffixNode[texts[i]] = i
		b.rank[i], up[i] = -1, above
		if suffixes[texts[i]] {
			b.rank[i] = rank
			rank++
			above = i
		}
		for _, k := range nodes[i].kids {
			walk(k, above)
		}
		b.last[i] = rank - 1
	}
	walk(0, -1)
	x := b.x
	markOf := make([]int32, len(nodes))
	x.suffix = b.paths(nodes, texts, func(i int) {
		if b.rank[i] < 0 {
			return
		}
		markOf[i] = int32(len(x.ends))
		x.ends = append(x.ends, suffixMark{depth: int32(len(texts[i])), rank: b.rank[i], up: up[i]})
	}, func() int32 { return int32(len(x.ends)) })
	for i := range x.ends {
		if u := x.ends[i].up; u >= 0 {
			x.ends[i].up = markOf[u]
		}
	}
	x.suffix.probe = buildProbe(&x.suffix, string(append(b.text, make([]byte, 8)...)), sortedKeys(suffixes), func(pos string, paths []int32) (route []int32, _, _ uint16) {
		// The segments of the paths on the way down, as findSuffixes
		// fills them, but for those with no mark within reach.
		for d := 1; d <= len(pos); d++ {
			if d < len(pos) && paths[d] == paths[d-1] {
				continue // the path goes on
			}
			p := &x.suffix.paths[paths[d-1]]
			last := p.mark0 - 1
			for i := p.mark0; i < p.mark1 && int(x.ends[i].depth) <= d; i++ {
				last = i
			}
			if last >= p.mark0 {
				route = append(route, p.mark0, last)
			}
		}
		return route, 0, 0
	})
}

// treeNode is a node of a tree under construction.
type treeNode struct {
	label string  // the edge's text
	kids  []int32 // the children, the one with the most keys below it first
}

// radix lays out the radix tree of sorted, distinct keys in preorder: node 0
// is the root (the empty text), every key is the text of a node, and a
// node's first child is the one with the most keys in its subtree. It
// returns the nodes and the full text of each.
func radix(keys []string) (nodes []treeNode, texts []string) {
	var fill func(label string, keys []string, depth int)
	fill = func(label string, keys []string, depth int) {
		at := len(nodes)
		nodes = append(nodes, treeNode{label: label})
		text := ""
		if len(keys) > 0 {
			text = keys[0][:depth]
		}
		texts = append(texts, text)
		if len(keys) > 0 && len(keys[0]) == depth {
			keys = keys[1:] // the node's own text, first in order
		}
		var groups [][]string
		for len(keys) > 0 {
			c, j := keys[0][depth], 1
			for j < len(keys) && keys[j][depth] == c {
				j++
			}
			groups = append(groups, keys[:j])
			keys = keys[j:]
		}
		slices.SortStableFunc(groups, func(a, b []string) int { return len(b) - len(a) })
		for _, g := range groups {
			lcp := commonPrefix(g[0], g[len(g)-1])
			nodes[at].kids = append(nodes[at].kids, int32(len(nodes)))
			fill(g[0][depth:lcp], g, lcp)
		}
	}
	fill("", keys, 0)
	return nodes, texts
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// paths cuts a tree into heavy paths, each node's first child continuing
// its path, and copies the paths' texts into the index's text. mark is
// called for every node in path order and records a mark for it if it
// carries something; marks returns how many are recorded.
func (b *indexBuilder) paths(nodes []treeNode, texts []string, mark func(node int), marks func() int32) tree {
	var t tree
	type pending struct {
		head  int32 // the path's first node
		id    int32 // the path's index
		start int32 // the depth where its text starts
	}
	queue := []pending{{head: 0, id: 0, start: 0}}
	t.paths = append(t.paths, heavyPath{})
	for len(queue) > 0 {
		q := queue[0]
		queue = queue[1:]
		p := heavyPath{off: int32(len(b.text)), start: q.start, mark0: marks(), light0: int32(len(t.lights))}
		for i := q.head; ; i = nodes[i].kids[0] {
			b.text = append(b.text, nodes[i].label...)
			mark(int(i))
			if lights := slices.Clone(nodes[i].kids[min(1, len(nodes[i].kids)):]); len(lights) > 0 {
				// In the order of their first bytes, as light counts them.
				slices.SortFunc(lights, func(a, b int32) int { return int(nodes[a].label[0]) - int(nodes[b].label[0]) })
				g := lightGroup{off: int32(len(texts[i])) - q.start, path0: int32(len(t.paths))}
				for _, k := range lights {
					c := nodes[k].label[0]
					g.set[c>>6] |= 1 << (c & 63)
					queue = append(queue, pending{head: k, id: int32(len(t.paths)), start: int32(len(texts[i]))})
					t.paths = append(t.paths, heavyPath{})
				}
				t.lights = append(t.lights, g)
			}
			if len(nodes[i].kids) == 0 {
				break
			}
		}
		p.n = int32(len(b.text)) - p.off
		p.mark1, p.light1 = marks(), int32(len(t.lights))
		p.dense = -1
		if groups := p.light1 - p.light0; 2*groups > p.n+1 {
			p.dense = int32(len(t.groupAt))
			for range p.n + 1 {
				t.groupAt = append(t.groupAt, -1)
			}
			for g := p.light0; g < p.light1; g++ {
				t.groupAt[p.dense+t.lights[g].off] = g
			}
		}
		t.paths[q.id] = p
	}
	return t
}

// run builds the run of one prefix node, whose patterns pair it with the
// suffixes ps: for every rank of the suffix tree, the union of the rules of
// the patterns whose suffix is that node's text or a suffix of it. A
// pattern's suffix covers the ranks of its subtree, and such ranges nest, so
// a sweep in rank order with a stack of open ranges gives each change of
// value.
func (b *indexBuilder) run(ps [][2]string, rules map[[2]string]ruleSet) segRun {
	type entry struct {
		node  int32
		rules ruleSet
	}
	es := make([]entry, len(ps))
	var all ruleSet
	for i, k := range ps {
		es[i] = entry{b.suffixNode[reverse(k[1])], rules[k]}
		all.union(rules[k])
	}
	slices.SortFunc(es, func(x, y entry) int { return int(b.rank[x.node] - b.rank[y.node]) })
	var at []int32
	var val []uint16
	emit := func(rank int32, s ruleSet) {
		id := b.set(s)
		if n := len(at); n > 0 && at[n-1] == rank {
			at, val = at[:n-1], val[:n-1]
		}
		if n := len(at); n > 0 && val[n-1] == id || len(at) == 0 && id == 0 {
			return
		}
		at, val = append(at, rank), append(val, id)
	}
	type open struct {
		last int32
		set  ruleSet
	}
	var stack []open
	closeUntil := func(rank int32) {
		for len(stack) > 0 && stack[len(stack)-1].last < rank {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			var outer ruleSet
			if len(stack) > 0 {
				outer = stack[len(stack)-1].set
			}
			emit(t.last+1, outer)
		}
	}
	for _, e := range es {
		r := b.rank[e.node]
		closeUntil(r)
		s := e.rules
		if len(stack) > 0 {
			s.union(stack[len(stack)-1].set)
		}
		emit(r, s)
		stack = append(stack, open{last: b.last[e.node], set: s})
	}
	closeUntil(1 << 30)

	x := b.x
	run := segRun{rules: all, tail: val[len(val)-1], lo: at[0]}
	run.n = at[len(at)-1] - run.lo + 1
	// A table costs a value for each rank from the first segment to the
	// last; counting bits costs ten bytes for each 64 ranks and a value for
	// each segment, and a few more instructions. A table is used when it
	// is small or not larger.
	words := (run.n + 63) / 64
	if run.n <= 64 || 2*run.n <= 10*words+2*int32(len(at)) {
		run.off = int32(len(x.table))
		for r, k := run.lo, 0; r < run.lo+run.n; r++ {
			if k+1 < len(at) && at[k+1] <= r {
				k++
			}
			x.table = append(x.table, val[k])
		}
		return run
	}
	run.sparse, run.off, run.words = true, int32(len(x.segVal)), int32(len(x.bits))
	x.segVal = append(x.segVal, val...)
	w0 := len(x.bits)
	x.bits = append(x.bits, make([]uint64, words)...)
	for _, r := range at {
		i := r - run.lo
		x.bits[w0+int(i>>6)] |= 1 << (i & 63)
	}
	count := 0
	for w := w0; w < len(x.bits); w++ {
		x.before = append(x.before, uint16(count))
		count += bits.OnesCount64(x.bits[w])
	}
	return run
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
