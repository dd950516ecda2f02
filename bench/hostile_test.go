package bench

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// Hostile documents: configurations S3 accepts (at most 100 rules in at
// most 64 KB) built to make one unauthenticated preflight, with an
// Access-Control-Request-Headers list exactly cors.MaxRequestHeadersSize
// long, cost as much CPU as possible. Each is measured against the same list
// sent to a one-rule policy with AllowedHeader "*", in the same run.

// hostile is a document and an at-cap list it refuses after the most work:
// every name but the last is allowed by the candidate rule, and the last by
// none.
type hostile struct {
	name string
	doc  []byte
	list string
}

const hostileOrigin = "https://app.example.com"

// docBuilder writes a PutBucketCors body in the tightest form S3 accepts:
// no declaration, no namespace, no white space.
type docBuilder struct{ strings.Builder }

func (b *docBuilder) rule(method string, headers []string) {
	b.WriteString("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>" + method + "</AllowedMethod>")
	for _, h := range headers {
		b.WriteString("<AllowedHeader>" + h + "</AllowedHeader>")
	}
	b.WriteString("</CORSRule>")
}

// rules writes headers spread over as few rules as the rule limit allows,
// none of them allowing the method the preflights ask for: their patterns
// are in the index, and must be looked at, without ever deciding.
func (b *docBuilder) rules(headers []string, left int) {
	per := (len(headers) + left - 1) / left
	for len(headers) > 0 {
		k := min(per, len(headers))
		b.rule("GET", headers[:k])
		headers = headers[k:]
	}
}

func (b *docBuilder) doc() []byte {
	return []byte("<CORSConfiguration>" + b.String() + "</CORSConfiguration>")
}

// atCap joins names, in turn, with "," and ends with last, padded with its
// own last byte so that the list is exactly cors.MaxRequestHeadersSize long.
func atCap(names []string, last string) string {
	var b strings.Builder
	for i := 0; b.Len()+len(names[i%len(names)])+1+len(last) <= cors.MaxRequestHeadersSize; i++ {
		b.WriteString(names[i%len(names)])
		b.WriteByte(',')
	}
	b.WriteString(last)
	return b.String() + strings.Repeat(last[len(last)-1:], cors.MaxRequestHeadersSize-b.Len())
}

// hostileScan is the worst case of matching each requested name against
// each pattern of each candidate rule, as the engine did before it indexed
// header patterns: 100 rules that all allow the origin and the method, each
// with as many one-"*" patterns as fit, every requested name allowed by
// every rule's last pattern only, and the list's last name allowed by none,
// so that every rule compares every name with every pattern and then fails.
// One-byte names make the list as long as it can be in names (4096).
func hostileScan() hostile {
	var b docBuilder
	for range cors.MaxRules {
		var headers []string
		for c := byte('b'); c <= 'q'; c++ {
			headers = append(headers, string(c)+"*")
		}
		b.rule("PUT", append(headers, "a*"))
	}
	return hostile{"scan", b.doc(), atCap([]string{"a"}, "z")}
}

// hostileChains is the worst case of the index's length condition: chains
// of nested prefixes c, cc, ccc... and nested suffixes, one chain per letter,
// so that every prefix of a name c^k pairs with a different suffix of it,
// and the index looks up a run for every byte of every name. The candidate
// rule has at each prefix a pattern that never matches ("c^i*~"), so that
// no lookup can be skipped, and allows the names only through c^depth*,
// which the walk reaches last. The suffixes come from rules that do not
// allow the method. The names, c^k for every length k from depth/2 to
// depth in every chain, are distinct, so that no name is matched twice, and
// the candidate allows each as an exact name, which the walk reaches last.
func hostileChains(letters string, depth int) hostile {
	var victim, suffixes, names []string
	for _, c := range letters {
		l := string(c)
		for i := range depth {
			victim = append(victim, strings.Repeat(l, i)+"*~")
			suffixes = append(suffixes, "*"+strings.Repeat(l, i+1))
		}
		for k := depth / 2; k <= depth; k++ {
			names = append(names, strings.Repeat(l, k))
		}
	}
	var b docBuilder
	b.rule("PUT", append(victim, names...))
	b.rules(suffixes, cors.MaxRules-1)
	return hostile{"chains", b.doc(), atCap(names, "!")}
}

// hostileTrie is the worst case of the index's walks: every string over a
// small alphabet up to a depth is a prefix of a pattern of the candidate
// rule that never matches (so that every byte of every name would leave one
// path of the tree for another, and a run is looked up at each), and every
// such string is the suffix of a pattern of rules that do not allow the
// method. The candidate allows the names through the longest prefixes.
// Each name is a longest prefix followed by two bytes that make it
// distinct, so that no name is matched twice, and that end a suffix, so
// that the lookups are made; or, with tail > 0, by the first tail bytes of
// another longest prefix, so that the walk down the suffix tree is as long
// as the walk down the prefix tree.
func hostileTrie(alphabet string, depth, tail int) hostile {
	const tails = "0123456789nopqrstuvwxyz"
	var all []string
	var gen func(string)
	gen = func(s string) {
		all = append(all, s)
		if len(s) < depth {
			for _, c := range alphabet {
				gen(s + string(c))
			}
		}
	}
	gen("")
	var victim, suffixes, leaves []string
	for _, s := range all {
		if len(s) < depth {
			victim = append(victim, s+"*~")
		} else {
			victim = append(victim, s+"*")
			leaves = append(leaves, s)
		}
		if s != "" {
			suffixes = append(suffixes, "*"+s)
		}
	}
	for _, c := range tails {
		suffixes = append(suffixes, "*"+string(c))
	}
	var names []string
	name := fmt.Sprintf("trie%d^%d", len(alphabet), depth)
	if tail == 0 {
		for i := 0; len(names) < cors.MaxRequestHeadersSize/(depth+3); i++ {
			names = append(names, leaves[i%len(leaves)]+string(tails[i/len(leaves)%len(tails)])+string(tails[i/len(leaves)/len(tails)%len(tails)]))
		}
	} else {
		name += fmt.Sprintf("+%d", tail)
		for i := 0; len(names) < cors.MaxRequestHeadersSize/(depth+tail+1); i++ {
			names = append(names, leaves[i%len(leaves)]+leaves[(i/len(leaves)+3*i)%len(leaves)][:tail])
		}
	}
	var b docBuilder
	b.rule("PUT", victim)
	b.rules(suffixes, cors.MaxRules-1)
	return hostile{name, b.doc(), atCap(names, "!")}
}

// hostiles are the worst documents found for each way of matching: name by
// pattern (scan), and the index's length condition (chains) and walks
// (tries, of two shapes that come out close, binary and ternary, and a
// binary one whose names walk the suffix tree as deep as the prefix tree).
func hostiles() []hostile {
	return []hostile{
		hostileScan(),
		hostileChains("abcdefghijklmnopqrst", 24),
		hostileTrie("ab", 8, 0),
		hostileTrie("abc", 5, 0),
		hostileTrie("ab", 8, 8),
	}
}

// starDoc is the baseline: one rule that allows every header.
var starDoc = func() []byte {
	var b docBuilder
	b.rule("PUT", []string{"*"})
	return b.doc()
}()

func mustCompile(tb testing.TB, doc []byte) *cors.Policy {
	if len(doc) > cors.MaxDocumentSize {
		tb.Fatalf("document of %d bytes is over S3's limit of %d", len(doc), cors.MaxDocumentSize)
	}
	c, err := cors.Parse(doc)
	if err != nil {
		tb.Fatalf("S3 would refuse the document: %v", err)
	}
	if len(c.Rules) > cors.MaxRules {
		tb.Fatalf("%d rules", len(c.Rules))
	}
	return cors.Compile(c)
}

// hostileCase sends list as a PUT preflight and checks what the engine
// answers: refused with nothing but the status, or allowed with every name
// echoed.
func hostileCase(name, list string, allowed bool) benchCase {
	if len(list) != cors.MaxRequestHeadersSize {
		panic(fmt.Sprintf("list of %d bytes", len(list)))
	}
	r := request(http.MethodOptions, map[string]string{"Origin": hostileOrigin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": list})
	return benchCase{name, r, func(_ string, w *leanWriter) error {
		if !allowed {
			return exactly(w, http.StatusForbidden, nil)
		}
		if w.status() != http.StatusOK {
			return fmt.Errorf("status %d", w.status())
		}
		if got, want := w.h["Access-Control-Allow-Headers"], strings.ToLower(strings.ReplaceAll(list, ",", ", ")); len(got) != 1 || got[0] != want {
			return fmt.Errorf("ACAH of %d bytes, want %d", len(strings.Join(got, "")), len(want))
		}
		return nil
	}}
}

// BenchmarkHostile sends each hostile document's at-cap list to it, which
// refuses it after the most work, and to the one-rule "*" policy, which
// allows it.
func BenchmarkHostile(b *testing.B) {
	star := engine{mustCompile(b, starDoc)}
	for _, h := range hostiles() {
		p := engine{mustCompile(b, h.doc)}
		b.Run("doc="+h.name, func(b *testing.B) { run(b, p, hostileCase(h.name, h.list, false), "engine") })
		b.Run("doc=star/list="+h.name, func(b *testing.B) { run(b, star, hostileCase(h.name, h.list, true), "engine") })
	}
}

// TestHostileDocuments keeps the documents within S3's limits and checks
// that each refuses its list at the last name only.
func TestHostileDocuments(t *testing.T) {
	for _, h := range hostiles() {
		p := mustCompile(t, h.doc)
		r := cors.NewRequest(http.MethodOptions, preflightWith(h.list).Header)
		d := p.Preflight(r)
		if d.Allowed() || d.Reason() != cors.ReasonHeader || !strings.HasPrefix(d.DeniedHeader(), h.list[strings.LastIndexByte(h.list, ',')+1:][:1]) {
			t.Errorf("%s: %v %v %q", h.name, d.Outcome(), d.Reason(), d.DeniedHeader())
		}
		allowed := h.list[:strings.LastIndexByte(h.list, ',')]
		if d := p.Preflight(cors.NewRequest(http.MethodOptions, preflightWith(allowed).Header)); !d.Allowed() {
			t.Errorf("%s: the list without its last name is refused: %v %q", h.name, d.Reason(), d.DeniedHeader())
		}
		t.Logf("%s: %d bytes, %d rules", h.name, len(h.doc), strings.Count(string(h.doc), "<CORSRule>"))
	}
}

func preflightWith(acrh string) *http.Request {
	return request(http.MethodOptions, map[string]string{"Origin": hostileOrigin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": acrh})
}

// BenchmarkHostileHeap reports the live heap of one compiled policy for
// each hostile document and, for comparison, for the one rule of the other
// benchmarks, which names eight headers (B/policy).
func BenchmarkHostileHeap(b *testing.B) {
	docs := map[string][]byte{"rule": (&cors.Configuration{Rules: []cors.Rule{allowedRule}}).Marshal()}
	for _, h := range hostiles() {
		docs[h.name] = h.doc
	}
	for name, doc := range docs {
		c, err := cors.Parse(doc)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("doc="+name, func(b *testing.B) {
			const n = 20
			per, kept := heapDelta(n, func() any {
				ps := make([]*cors.Policy, n)
				for i := range ps {
					ps[i] = cors.Compile(c)
				}
				return ps
			})
			runtime.KeepAlive(kept)
			for b.Loop() {
			}
			b.ReportMetric(per, "B/policy")
		})
	}
}
