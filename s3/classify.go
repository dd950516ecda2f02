package s3

import (
	"net/http"
	"strings"
	"unicode"
)

// Kind is what a request is to the gateway: answered here, forwarded, or
// refused.
type Kind uint8

// The kinds of request. docs/request-forms.md lists the forms of each and
// the store behaviour behind every decision.
const (
	// KindRefused is a request whose meaning S3 and the stores behind could
	// read differently: it is answered with Classification.Err and never
	// forwarded.
	KindRefused Kind = iota
	// KindPreflight is any OPTIONS request: S3 has no OPTIONS operation.
	KindPreflight
	// KindCORS is a call of the cors sub-resource of a bucket, answered by
	// the ?cors API whatever its method.
	KindCORS
	// KindService names no bucket, such as ListBuckets.
	KindService
	// KindCreateBucket is a PUT at a bucket root without a parameter that
	// selects another operation.
	KindCreateBucket
	// KindDeleteBucket is a DELETE at a bucket root that S3 and every store
	// execute as DeleteBucket: its query, if any, holds only parameters
	// that select no operation (x-id, presigned-URL parameters, unknown
	// names).
	KindDeleteBucket
	// KindMayDeleteBucket is a DELETE at a bucket root that S3 executes as
	// another operation (DeleteBucketTagging, ...), but that a store which
	// does not know the parameter may execute as DeleteBucket.
	KindMayDeleteBucket
	// KindBucket is any other request at a bucket root.
	KindBucket
	// KindObject is a request on a key.
	KindObject
)

var kindNames = [...]string{"Refused", "Preflight", "CORS", "Service", "CreateBucket", "DeleteBucket", "MayDeleteBucket", "Bucket", "Object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Classification is what Classify found.
type Classification struct {
	Kind Kind
	// Target is the bucket and key, as ResolveTarget finds them; it is set
	// for refused requests too, so that their answer can carry the
	// bucket's CORS headers.
	Target Target
	// Err is the answer to a refused request, nil otherwise.
	Err *Error
}

// MaxQueryParameters is the most query parameters a request may carry,
// counted as Go counts them (one more than the number of '&'). It is Go's
// own limit (net/url, Go 1.26): beyond it url.ParseQuery returns no
// parameter at all, so a store written in Go would read such a request as
// one without a query while S3 and the others read its parameters.
const MaxQueryParameters = 10000

// corsParam is the sub-resource this gateway answers itself.
const corsParam = "cors"

// Classify says what r is, reading its target the way S3 and the stores
// behind do (docs/request-forms.md): query parameter names percent-decoded
// with '+' as a space and compared case-sensitively, as S3 does. Where the
// readings disagree about whether the request is a ?cors call, or whether a
// DELETE removes a bucket, the request is refused, or for a DELETE marked
// KindMayDeleteBucket. suffixes are the virtual-host suffixes of
// ResolveTarget.
//
// The query is read once, without allocating, so the cost is linear in its
// length; only a refusal allocates its error.
func Classify(r *http.Request, suffixes []string) Classification {
	t := ResolveTarget(r, suffixes)
	if r.Method == http.MethodOptions {
		// Never forwarded, whatever its target: a preflight.
		return Classification{Kind: KindPreflight, Target: t}
	}
	refuse := func(e *Error) Classification { return Classification{Kind: KindRefused, Target: t, Err: e} }
	if r.URL.Fragment != "" || strings.IndexByte(r.URL.RawPath, '#') >= 0 {
		return refuse(ErrInvalidURI())
	}
	q, e := readQuery(r.URL.RawQuery)
	if e != nil {
		return refuse(e)
	}
	if q.cors || q.ambiguousCORS {
		return classifyCORS(r, t, q)
	}
	if t.Bucket == "" {
		if r.Method == http.MethodDelete {
			// A store that does its own virtual hosting executes this as
			// DeleteBucket of a bucket the gateway cannot name, whose
			// configuration would outlive it.
			return refuse(ErrMethodNotAllowed(r.Method, ResourceService))
		}
		return Classification{Kind: KindService, Target: t}
	}
	if t.Key != "" {
		vhost := virtualHostBucket(r.Host, suffixes) != ""
		if r.Method == http.MethodDelete && leavesKey(r.URL.Path, vhost, t.Bucket) {
			// A store that normalises the path would delete a bucket.
			return refuse(ErrInvalidURI())
		}
		return Classification{Kind: KindObject, Target: t}
	}
	kind := KindBucket
	switch {
	case r.Method == http.MethodPut && !q.routed:
		kind = KindCreateBucket
	case r.Method == http.MethodDelete && !q.routed:
		kind = KindDeleteBucket
	case r.Method == http.MethodDelete:
		kind = KindMayDeleteBucket
	}
	return Classification{Kind: kind, Target: t}
}

// classifyCORS decides a request that some reading takes as a ?cors call:
// it is the API, or it is refused.
func classifyCORS(r *http.Request, t Target, q queryFacts) Classification {
	refuse := func(e *Error) Classification { return Classification{Kind: KindRefused, Target: t, Err: e} }
	switch {
	case q.ambiguousCORS:
		return refuse(ErrInvalidURI())
	case !canonicalPath(r.URL.Path):
		// Some store reads this path as another resource, such as the
		// bucket root for `/bucket//` (fiber) or `/bucket/.` (fasthttp's
		// normalised path).
		return refuse(ErrInvalidURI())
	case q.selectors&^selectorBit(corsParam) != 0:
		return refuse(ErrConflictingQueryParameters(q.selectorNames()))
	case t.Bucket == "":
		return refuse(ErrCORSWithoutBucket())
	case t.Key != "":
		return refuse(ErrCORSOnKey())
	}
	return Classification{Kind: KindCORS, Target: t}
}

// selectors are the query parameters that select an S3 operation other
// than the plain one of the path (listing, object bytes, CreateBucket,
// DeleteBucket): the names of S3's bucket and object sub-resources. S3
// compares them case-sensitively and ignores their values; it refuses two
// of them in one request (InvalidArgument, "Conflicting query string
// parameters"). Sorted, as S3 lists them in that refusal.
var selectors = [...]string{
	"abac", "accelerate", "acl", "analytics", "annotation", "attributes", "cors", "delete",
	"encryption", "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location",
	"logging", "metadataConfiguration", "metadataTable", "metrics", "notification", "object-lock",
	"ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication",
	"requestPayment", "restore", "retention", "select", "tagging", "torrent", "uploadId",
	"uploads", "versioning", "versions", "website",
}

// storeRouted are parameters that are no S3 selector but that a store routes
// a request at a bucket root on: gofakes3 sends any request with versionId
// to its object-version handlers.
var storeRouted = [...]string{"versionId"}

// paramIndex maps a selector to its bit in queryFacts.selectors, and a
// store-routed parameter to -1.
var paramIndex = func() map[string]int {
	m := make(map[string]int, len(selectors)+len(storeRouted))
	for i, s := range selectors {
		m[s] = i
	}
	for _, s := range storeRouted {
		m[s] = -1
	}
	return m
}()

// maxParamName is the longest decoded parameter name compared with the
// names above; a longer one is none of them.
const maxParamName = 32

func selectorBit(name string) uint64 { return 1 << paramIndex[name] }

// queryFacts is what readQuery learnt of a query.
type queryFacts struct {
	// cors: S3's reading (and Go's and fasthttp's, which agree with it on
	// every query readQuery accepts) names the cors sub-resource.
	cors bool
	// ambiguousCORS: another reading names cors where S3's does not, or a
	// name is cors but for what a store may trim or cut off.
	ambiguousCORS bool
	// routed: some reading names a selector or a store-routed parameter.
	routed bool
	// selectors has the bit of each selector in S3's reading.
	selectors uint64
}

func (q queryFacts) selectorNames() []string {
	var names []string
	for i, s := range selectors {
		if q.selectors&(1<<i) != 0 {
			names = append(names, s)
		}
	}
	return names
}

// readQuery reads a raw query once. It refuses what no reading can be
// trusted with: a '#' (fasthttp ends the query there, Go keeps it in the
// parameter), a bad percent escape (S3 refuses it, Go drops the pair,
// fasthttp keeps it as text), and more than MaxQueryParameters parameters.
//
// A pair with ';' is read twice more: MinIO's router (minio/mux) splits
// pairs at ';' too, and Go's url.ParseQuery drops the whole pair.
func readQuery(raw string) (queryFacts, *Error) {
	var q queryFacts
	if raw == "" {
		return q, nil
	}
	if strings.Count(raw, "&") >= MaxQueryParameters || strings.IndexByte(raw, '#') >= 0 || !validEscapes(raw) {
		return q, ErrInvalidURI()
	}
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		name, _, _ := strings.Cut(pair, "=")
		n := readName(name)
		q.note(n, true)
		if strings.IndexByte(pair, ';') < 0 {
			continue
		}
		if n.cors {
			q.ambiguousCORS = true // Go's reading drops the pair
		}
		for piece := range strings.SplitSeq(pair, ";") {
			name, _, _ := strings.Cut(piece, "=")
			alt := readName(name)
			q.note(alt, false)
			if alt.cors {
				q.ambiguousCORS = true
			}
		}
	}
	if q.ambiguousCORS {
		q.cors = false
	}
	return q, nil
}

// note records a name of S3's reading (s3 true) or of another one.
func (q *queryFacts) note(n paramName, s3 bool) {
	switch {
	case n.nearCORS:
		q.ambiguousCORS = true
	case n.cors && s3:
		q.cors = true
	}
	if n.index == 0 {
		return
	}
	q.routed = true
	if n.index > 0 && s3 {
		q.selectors |= 1 << (n.index - 1)
	}
}

// paramName is what a decoded parameter name is.
type paramName struct {
	cors bool
	// nearCORS: not cors, but cors once leading and trailing spaces,
	// control bytes and '?' are trimmed, or once cut at a NUL as a C string
	// is. Unknown to S3; a store that trims would read cors.
	nearCORS bool
	// index is 1 + the selector's index, -1 for a store-routed parameter,
	// 0 for any other name.
	index int
}

// readName decodes a raw parameter name (escapes already checked) without
// allocating.
func readName(raw string) paramName {
	var (
		buf      [maxParamName]byte
		n        int
		overflow bool
		near     = nearMatcher{}
	)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		near.feed(c)
		if n < len(buf) {
			buf[n] = c
			n++
		} else {
			overflow = true
		}
	}
	var p paramName
	if overflow {
		p.nearCORS = near.matched()
		return p
	}
	name := buf[:n]
	if string(name) == corsParam {
		p.cors = true
	} else {
		p.nearCORS = near.matched()
	}
	if i, ok := paramIndex[string(name)]; ok {
		p.index = i + 1
		if i < 0 {
			p.index = -1
		}
	}
	return p
}

// nearMatcher recognises, one decoded byte at a time, a name that is cors
// once trimmed of trimmable bytes or cut at a NUL.
type nearMatcher struct {
	state  uint8 // 0 leading, 1-4 letters of "cors" matched, 5 trailing, 6 cut at NUL, 7 failed
	padded bool  // a trimmable byte came before the name
}

func trimmable(c byte) bool { return c <= ' ' || c == 0x7f || c == '?' }

func (m *nearMatcher) feed(c byte) {
	switch {
	case m.state == 6 || m.state == 7:
	case m.state == 0 && trimmable(c):
		m.padded = true
	case m.state < 4 && c == corsParam[m.state]:
		m.state++
	case m.state >= 4 && c == 0:
		m.state = 6
	case m.state >= 4 && trimmable(c):
		m.state = 5
	default:
		m.state = 7
	}
}

func (m *nearMatcher) matched() bool {
	return m.state == 6 || m.state == 5 || (m.state == 4 && m.padded)
}

// validEscapes reports whether every '%' in s starts a two-digit escape.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; {
		if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
			return false
		}
		next := strings.IndexByte(s[i+3:], '%')
		if next < 0 {
			return true
		}
		i += 3 + next
	}
	return true
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// canonicalPath reports whether every store reads path as S3 does: no empty
// segment but a single trailing slash, no "." or ".." segment (MinIO also
// counts " . " as one), and no backslash, which MinIO and stores on Windows
// take as a separator.
func canonicalPath(path string) bool {
	if path == "/" {
		return true
	}
	if !strings.HasPrefix(path, "/") || strings.IndexByte(path, '\\') >= 0 {
		return false
	}
	// One pass, without allocating: a path can be as long as the request
	// line the server reads.
	empty := false
	for s := range strings.SplitSeq(path[1:], "/") {
		if empty {
			return false // an empty segment before this one
		}
		if s == "" {
			empty = true
			continue
		}
		if dot := strings.TrimFunc(s, unicode.IsSpace); dot == "." || dot == ".." {
			return false
		}
	}
	return true
}

// leavesKey reports whether a store that normalises path, as fasthttp and
// fiber do (empty, "." and ".." segments resolved, trailing slashes
// dropped), would read it as a bucket root or as a path in another bucket,
// where S3 reads a key of bucket. vhost says the whole path is the key.
func leavesKey(path string, vhost bool, bucket string) bool {
	if canonicalPath(path) {
		return false
	}
	var kept []string
	for s := range strings.SplitSeq(strings.ReplaceAll(path, "\\", "/"), "/") {
		switch strings.TrimFunc(s, unicode.IsSpace) {
		case "", ".":
		case "..":
			if len(kept) > 0 {
				kept = kept[:len(kept)-1]
			}
		default:
			kept = append(kept, s)
		}
	}
	if vhost {
		return len(kept) == 0
	}
	return len(kept) < 2 || kept[0] != bucket
}
