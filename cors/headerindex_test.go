package cors

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// indexShapes are configurations built to stress each part of the header
// index: chains of nested prefixes and suffixes, where every prefix of a
// name pairs with a different suffix of it (the length condition of spec
// B.3 decides most matches); tries where every node branches, so that a
// walk changes path at every byte; a chain with side branches at every
// depth; and suffix trees large enough for sparse runs.
func indexShapes() map[string]*Configuration {
	rep := strings.Repeat
	rule := func(method string, headers ...string) Rule {
		return Rule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{method}, AllowedHeaders: headers}
	}
	shapes := map[string]*Configuration{}

	// Prefixes a^i each paired with the suffixes a^j: the candidate rule's
	// patterns never match but a^24*, the others belong to rules that do
	// not allow the method.
	chain := &Configuration{Rules: []Rule{rule("PUT", rep("a", 24)+"*")}}
	for i := range 24 {
		chain.Rules[0].AllowedHeaders = append(chain.Rules[0].AllowedHeaders, rep("a", i)+"*b")
		var others []string
		for j := 1; j <= 24; j++ {
			others = append(others, rep("a", i)+"*"+rep("A", j))
		}
		chain.Rules = append(chain.Rules, rule("GET", others...))
	}
	shapes["chain"] = chain

	// Every string over {a, b, c} up to length 4 as a prefix and as a
	// suffix, spread over rules.
	var all []string
	var gen func(string)
	gen = func(s string) {
		all = append(all, s)
		if len(s) < 4 {
			for _, c := range "abc" {
				gen(s + string(c))
			}
		}
	}
	gen("")
	trie := &Configuration{}
	for i, s := range all {
		if i%12 == 0 {
			trie.Rules = append(trie.Rules, rule([]string{"PUT", "GET"}[len(trie.Rules)%2]))
		}
		r := &trie.Rules[len(trie.Rules)-1]
		r.AllowedHeaders = append(r.AllowedHeaders, s+"*"+all[(i*7+1)%len(all)], s)
	}
	shapes["trie"] = trie

	// A chain with a side branch at every depth, exact names and patterns.
	side := &Configuration{Rules: []Rule{rule("PUT"), rule("PUT")}}
	for i := range 40 {
		p := rep("x", i)
		side.Rules[i%2].AllowedHeaders = append(side.Rules[i%2].AllowedHeaders, p+"y", p+"*z", p+"q*"+rep("x", i%5+1))
	}
	shapes["side"] = side

	// Many distinct suffixes, each rule pairing a few prefixes with a few
	// far-apart ones: sparse runs.
	g := rand.New(rand.NewPCG(7, 8))
	sparse := &Configuration{}
	letters := "abcdefghij-"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[g.IntN(len(letters))]
		}
		return string(b)
	}
	var suffixes []string
	for range 300 {
		suffixes = append(suffixes, word(1+g.IntN(4)))
	}
	for r := range 60 {
		ru := rule([]string{"PUT", "GET", "PUT"}[r%3])
		for range 8 {
			ru.AllowedHeaders = append(ru.AllowedHeaders, word(g.IntN(3))+"*"+suffixes[g.IntN(len(suffixes))])
		}
		sparse.Rules = append(sparse.Rules, ru)
	}
	shapes["sparse"] = sparse

	// Many long prefixes and suffixes over a small alphabet: trees that
	// branch at every byte near their roots, with more positions than the
	// probe tables take, so that the walks go on from the middle of a path
	// where the tables end.
	wide := &Configuration{}
	word4 := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcd"[g.IntN(4)]
		}
		return string(b)
	}
	for r := range 60 {
		ru := rule([]string{"PUT", "GET"}[r%2])
		for range 50 {
			switch p := word4(6 + g.IntN(6)); g.IntN(4) {
			case 0:
				ru.AllowedHeaders = append(ru.AllowedHeaders, p)
			case 1:
				ru.AllowedHeaders = append(ru.AllowedHeaders, p+"*")
			default:
				ru.AllowedHeaders = append(ru.AllowedHeaders, p[:g.IntN(len(p))]+"*"+word4(3+g.IntN(10)))
			}
		}
		wide.Rules = append(wide.Rules, ru)
	}
	shapes["wide"] = wide
	return shapes
}

// TestHeaderIndexShapes decides many preflights against each shape like
// the naive evaluator does, with names drawn from the shape's own patterns
// (cut, joined and case-changed) so that most of them reach deep into both
// trees.
func TestHeaderIndexShapes(t *testing.T) {
	g := randomCase{rand.New(rand.NewPCG(9, 10))}
	sawSparse, sawPaths := false, 0
	probeKinds := map[string]bool{} // by tree and depth
	for name, c := range indexShapes() {
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := Compile(c)
		if p.headers.indexed() == nil {
			t.Fatalf("%s: no index", name)
		}
		for _, mk := range p.headers.index.marks {
			sawSparse = sawSparse || mk.sparse
		}
		sawPaths = max(sawPaths, len(p.headers.index.prefix.paths), len(p.headers.index.suffix.paths))
		for _, tr := range []struct {
			name string
			t    *tree
		}{{"prefix", &p.headers.index.prefix}, {"suffix", &p.headers.index.suffix}} {
			deepest := 0
			for _, path := range tr.t.paths {
				deepest = max(deepest, int(path.start+path.n))
			}
			switch d := tr.t.probe.depth; {
			case d == 0:
				probeKinds[tr.name+" without"] = true
			case d < deepest:
				probeKinds[tr.name+" short of the leaves"] = true
			default:
				probeKinds[tr.name+" to the leaves"] = true
			}
		}
		checkAgainstNaive(t, name, c, p, g, 3000)
	}
	if !sawSparse || sawPaths < 50 {
		t.Errorf("the shapes do not reach every part of the index: sparse runs %v, paths %d", sawSparse, sawPaths)
	}
	// Without a probe table, with one that holds the whole tree, and with
	// one that stops short of its leaves, in either tree.
	if len(probeKinds) < 6 {
		t.Errorf("the shapes do not reach every kind of probe table: %v", probeKinds)
	}
}

// checkAgainstNaive decides n preflights against c, compiled into p, like
// the naive evaluator does, with names drawn from c's own patterns (cut,
// joined and case-changed) so that most of them reach deep into both trees.
func checkAgainstNaive(t *testing.T, name string, c *Configuration, p *Policy, g randomCase, n int) {
	t.Helper()
	var pieces []string
	for _, r := range c.Rules {
		for _, h := range r.AllowedHeaders {
			pieces = append(pieces, strings.Split(h, "*")...)
		}
	}
	for i := range n {
		var names []string
		for range 1 + g.r.IntN(4) {
			tail := g.pick(pieces)
			s := g.pick(pieces) + g.pick(pieces) + tail[:min(len(tail), g.r.IntN(2))]
			if g.r.IntN(3) == 0 {
				s = strings.ToUpper(s[:len(s)/2]) + s[len(s)/2:]
			}
			if s == "" {
				s = "a"
			}
			names = append(names, s)
		}
		req := Request{Method: "OPTIONS", Origin: "https://o.test", RequestMethod: g.pick([]string{"PUT", "GET"}), HasRequestMethod: true,
			RequestHeaders: []string{strings.Join(names, ",")}}
		if want, got := naiveEvaluate(c, req), engineResult(p, req); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s, case %d: %q\ngot  %+v\nwant %+v", name, i, names, got, want)
		}
	}
}

// TestProbeCollisions puts every position of the probe tables in one run of
// full slots, as a hash that collides everywhere would: lookups still find
// what they look for, and decide as before.
func TestProbeCollisions(t *testing.T) {
	g := randomCase{rand.New(rand.NewPCG(11, 12))}
	for name, c := range indexShapes() {
		p := Compile(c)
		for _, pt := range []*probeTable{&p.headers.index.prefix.probe, &p.headers.index.suffix.probe} {
			if pt.slots == nil {
				continue
			}
			var all []probeSlot
			for _, s := range pt.slots {
				if s.pathDepth != 0 {
					all = append(all, s)
				}
			}
			clear(pt.slots)
			pt.mul1 = 0 // every search starts at slot 0
			for _, s := range all {
				i := pt.slot(s.word, int(s.pathDepth&15))
				for pt.slots[i].pathDepth != 0 {
					i = (i + 1) & pt.mask
				}
				pt.slots[i] = s
			}
			if got := longestRun(pt.slots); got != len(all) {
				t.Fatalf("%s: a run of %d, want %d", name, got, len(all))
			}
		}
		checkAgainstNaive(t, name, c, p, g, 500)
	}
}

func TestLongestRun(t *testing.T) {
	full := probeSlot{pathDepth: 1}
	for _, tc := range []struct {
		slots []probeSlot
		want  int
	}{
		{[]probeSlot{{}, {}, {}, {}}, 0},
		{[]probeSlot{{}, full, full, {}}, 2},
		{[]probeSlot{full, {}, full, full}, 3}, // around the end
		{[]probeSlot{full, full}, 2},
	} {
		if got := longestRun(tc.slots); got != tc.want {
			t.Errorf("longestRun(%v) = %d, want %d", tc.slots, got, tc.want)
		}
	}
}

// TestHeaderListCache: in a long list, names repeated in any case and order
// are matched once and decide as they would the first time.
func TestHeaderListCache(t *testing.T) {
	c := indexShapes()["trie"]
	p := Compile(c)
	g := randomCase{rand.New(rand.NewPCG(11, 12))}
	for range 200 {
		var names []string
		for range cacheFrom + 40 + g.r.IntN(200) {
			s := g.pick([]string{"abca", "ABCA", "bcab", "cc", "a", "abcc", "bbbb", "x-" + g.pick([]string{"a", "b"})})
			names = append(names, s)
		}
		req := Request{Method: "OPTIONS", Origin: "https://o.test", RequestMethod: "PUT", HasRequestMethod: true, RequestHeaders: []string{strings.Join(names, ", ")}}
		if want, got := naiveEvaluate(c, req), engineResult(p, req); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q\ngot  %+v\nwant %+v", names, got, want)
		}
	}
}
