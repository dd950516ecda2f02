package cors

import (
	"slices"
	"strconv"
	"strings"
)

// Policy is the compiled form of a valid Configuration: the rules with their
// response header values precomputed and their origins indexed. It is
// immutable and safe for concurrent use. A nil *Policy stands for a bucket
// without a CORS configuration.
type Policy struct {
	rules []rule
	// index finds the rules whose origins match a request origin without
	// scanning them all; nil when the policy is small enough to scan.
	index *originIndex
	// anyHeader holds the rules with the AllowedHeader "*"; headers, the
	// AllowedHeader patterns of the others, nil when they have none.
	anyHeader ruleSet
	headers   *headerPatterns
	// one holds the rule of a single-rule policy, the common case, so that it
	// costs no allocation of its own.
	one [1]rule
}

// rule is a compiled CORSRule. Every string points into one per-policy
// arena, and the slices into two per-policy backing arrays (strings and
// origin patterns), so a policy costs a handful of allocations however many
// values it holds.
type rule struct {
	id      string
	origins []originPattern
	headers []string // AllowedHeader values, verbatim
	acam    string   // Access-Control-Allow-Methods: the methods joined by ", "
	aceh    string   // Access-Control-Expose-Headers: the values joined by ", "
	acma    string   // Access-Control-Max-Age; "" when MaxAgeSeconds is absent
	methods uint8    // bit set of methodBit values
	flags   uint8
}

const (
	anyOrigin uint8 = 1 << iota // an AllowedOrigin is "*": ACAO is "*"
	anyHeader                   // an AllowedHeader is "*"
	hasExpose                   // ExposeHeader is set, so ACEH is sent
)

// originPattern is an AllowedOrigin value, verbatim, with the position of its
// "*" found once at compile time; star is -1 when there is none.
type originPattern struct {
	value string
	star  int
}

// indexedOrigins is how many origin patterns a policy may hold before it
// builds an origin index instead of scanning its rules.
const indexedOrigins = 8

// Compile builds the policy of a configuration that passes Validate. It keeps
// nothing of c, so c may be changed afterwards. A nil c gives a nil policy
// (no CORS configuration). For an invalid c the policy never panics but its
// decisions are unspecified; of more than 128 rules, those past the 128th
// are never consulted.
func Compile(c *Configuration) *Policy {
	if c == nil {
		return nil
	}
	p := &Policy{}
	if len(c.Rules) == 1 {
		p.rules = p.one[:]
	} else {
		p.rules = make([]rule, len(c.Rules))
	}
	// The first pass lays out every string in one arena and counts the list
	// entries; the second places them, so each kind of value costs one
	// allocation however many rules the policy has.
	b := builder{at: make(map[string]int)}
	b.compile(c, p.rules)
	b.start()
	b.compile(c, p.rules)
	p.index = buildIndex(p.rules)
	// Rule sets hold ruleSetCap rules, far more than MaxRules: the rules of
	// an invalid configuration past that many are never consulted.
	n := p.consulted()
	for i := range n {
		if p.rules[i].flags&anyHeader != 0 {
			p.anyHeader.add(i)
		}
	}
	p.headers = compileHeaders(c.Rules[:n])
	return p
}

// consulted is how many of the policy's rules evaluation considers: all of
// them in a valid configuration.
func (p *Policy) consulted() int {
	return min(len(p.rules), ruleSetCap)
}

// builder lays out the strings and lists of a policy.
type builder struct {
	placing   bool
	arena     []byte         // the first pass appends every distinct string here
	text      string         // the arena as one string, for the second pass
	at        map[string]int // offset in the arena of every distinct string
	slots     int            // list backing size
	lists     []string
	patterns  []originPattern
	npatterns int
}

// start ends the first pass: the arena becomes one string, of which every
// string of the policy is a substring, and the list backings are allocated
// at their exact sizes.
func (b *builder) start() {
	b.text = string(b.arena)
	b.arena = nil
	b.lists = make([]string, 0, b.slots)
	b.patterns = make([]originPattern, 0, b.npatterns)
	b.placing = true
}

// str returns s interned in the policy's arena: identical values share
// storage.
func (b *builder) str(s string) string {
	if s == "" {
		return ""
	}
	if b.placing {
		at := b.at[s]
		return b.text[at : at+len(s)]
	}
	if _, ok := b.at[s]; !ok {
		b.at[s] = len(b.arena)
		b.arena = append(b.arena, s...)
	}
	return s
}

// list returns a slice of n entries of the policy's list backing, capped so
// that an append can never reach the next list.
func (b *builder) list(n int) []string {
	if n == 0 {
		return nil
	}
	if !b.placing {
		b.slots += n
		return make([]string, n)
	}
	at := len(b.lists)
	b.lists = b.lists[:at+n]
	return b.lists[at : at+n : at+n]
}

// originPatterns is list for the AllowedOrigin patterns, which have their own
// backing array.
func (b *builder) originPatterns(n int) []originPattern {
	if !b.placing {
		b.npatterns += n
		return make([]originPattern, n)
	}
	at := len(b.patterns)
	b.patterns = b.patterns[:at+n]
	return b.patterns[at : at+n : at+n]
}

func (b *builder) compile(c *Configuration, rules []rule) {
	for i := range c.Rules {
		src, ru := &c.Rules[i], &rules[i]
		*ru = rule{id: b.str(src.ID)}
		ru.origins = b.originPatterns(len(src.AllowedOrigins))
		for j, o := range src.AllowedOrigins {
			ru.origins[j] = originPattern{value: b.str(o), star: strings.IndexByte(o, '*')}
			if o == "*" {
				ru.flags |= anyOrigin
			}
		}
		ru.headers = b.list(len(src.AllowedHeaders))
		for j, h := range src.AllowedHeaders {
			ru.headers[j] = b.str(h)
			if h == "*" {
				ru.flags |= anyHeader
			}
		}
		for _, m := range src.AllowedMethods {
			ru.methods |= methodBit(m)
		}
		ru.acam = b.str(strings.Join(src.AllowedMethods, ", "))
		if len(src.ExposeHeaders) > 0 {
			ru.flags |= hasExpose
			ru.aceh = b.str(strings.Join(src.ExposeHeaders, ", "))
		}
		if src.MaxAgeSeconds != nil {
			ru.acma = b.str(strconv.Itoa(*src.MaxAgeSeconds))
		}
	}
}

// Configuration returns the configuration the policy was compiled from, as a
// new value the caller may change. A nil policy gives nil.
func (p *Policy) Configuration() *Configuration {
	if p == nil {
		return nil
	}
	c := &Configuration{Rules: make([]Rule, len(p.rules))}
	for i := range p.rules {
		ru, r := &p.rules[i], &c.Rules[i]
		r.ID = ru.id
		r.AllowedHeaders = slices.Clone(ru.headers)
		r.AllowedOrigins = make([]string, len(ru.origins))
		for j, o := range ru.origins {
			r.AllowedOrigins[j] = o.value
		}
		// Valid method names and ExposeHeader values contain neither "," nor
		// " ", so the joined header values split back into the lists.
		r.AllowedMethods = strings.Split(ru.acam, ", ")
		if ru.flags&hasExpose != 0 {
			r.ExposeHeaders = strings.Split(ru.aceh, ", ")
		}
		if ru.acma != "" {
			n, err := strconv.Atoi(ru.acma)
			if err == nil {
				r.MaxAgeSeconds = &n
			}
		}
	}
	return c
}

// Len is the number of rules of the policy; 0 for a nil policy.
func (p *Policy) Len() int {
	if p == nil {
		return 0
	}
	return len(p.rules)
}

// methodBit maps the five methods S3 allows in a rule to one bit each; any
// other string, including a lowercase one, maps to 0.
func methodBit(m string) uint8 {
	switch m {
	case "GET":
		return 1
	case "PUT":
		return 2
	case "HEAD":
		return 4
	case "POST":
		return 8
	case "DELETE":
		return 16
	}
	return 0
}

// lowerASCII lowercases the ASCII letters of s. Header names are ASCII
// tokens; other bytes are left alone so that the request side, which folds
// byte by byte, agrees with it.
func lowerASCII(s string) string {
	b := []byte(s)
	lowerInPlace(b)
	return string(b)
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
