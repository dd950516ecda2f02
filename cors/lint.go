package cors

import (
	"slices"
	"strconv"
	"strings"
)

// Warning is something S3 accepts in a configuration but that browsers or
// the AWS SDKs will trip on.
type Warning struct {
	Code    string `json:"code"`    // one of the Warn constants; stable, for scripts
	Rule    int    `json:"rule"`    // the rule's index, from 0; -1 when not about one rule
	Message string `json:"message"` // what will go wrong, and what to change
}

// String returns the warning as the CLI prints it.
func (w Warning) String() string {
	if w.Rule < 0 {
		return w.Code + ": " + w.Message
	}
	return "rule " + strconv.Itoa(w.Rule) + ": " + w.Code + ": " + w.Message
}

// The codes of Lint's warnings.
const (
	// WarnShadowedRule: an earlier rule matches every request the rule
	// matches, so S3, which uses the first match, never uses it.
	WarnShadowedRule = "shadowed-rule"
	// WarnOriginNeverMatches: an AllowedOrigin no browser ever sends.
	WarnOriginNeverMatches = "origin-never-matches"
	// WarnETagNotExposed: PUT or POST allowed, ETag not exposed.
	WarnETagNotExposed = "etag-not-exposed"
	// WarnSDKChecksumHeaders: uploads signed in the page by the AWS SDK
	// allowed, but not the headers it sends, or not exposed the checksum it
	// reads.
	WarnSDKChecksumHeaders = "sdk-checksum-headers"
	// WarnMaxAgeOverBrowserCap: a MaxAgeSeconds above what a browser keeps.
	WarnMaxAgeOverBrowserCap = "max-age-over-browser-cap"
	// WarnWildcardOriginWrite: AllowedOrigin "*" with PUT, POST or DELETE.
	WarnWildcardOriginWrite = "wildcard-origin-write"
)

// WarningCodes returns the codes Lint's warnings may have, in the order to
// list them.
func WarningCodes() []string {
	return []string{WarnShadowedRule, WarnOriginNeverMatches, WarnETagNotExposed,
		WarnSDKChecksumHeaders, WarnMaxAgeOverBrowserCap, WarnWildcardOriginWrite}
}

// Lint returns the warnings for c, rule by rule, in a fixed order. It
// changes nothing and needs no valid c (values S3 would refuse are taken
// to match nothing); a nil c has none.
func Lint(c *Configuration) []Warning {
	if c == nil {
		return nil
	}
	var ws []Warning
	add := func(code string, rule int, msg string) {
		ws = append(ws, Warning{Code: code, Rule: rule, Message: msg})
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		for j := range i {
			if covers(&c.Rules[j], r) {
				add(WarnShadowedRule, i, "rule "+ruleName(c, j)+" matches every request this rule matches (its origins, methods and headers cover this rule's), and S3 uses the first rule that matches: this rule never applies, nor its ExposeHeader and MaxAgeSeconds. Remove it, or move it above rule "+strconv.Itoa(j)+" if its answer is the one wanted.")
				break
			}
		}
		for _, o := range r.AllowedOrigins {
			if why, fix := originProblem(o); why != "" {
				add(WarnOriginNeverMatches, i, "AllowedOrigin "+strconv.Quote(o)+" never matches: "+why+". "+fix)
			}
		}
		writes := allowedOf(r, "PUT", "POST", "DELETE")
		if slices.Contains(r.AllowedOrigins, "*") && len(writes) > 0 {
			add(WarnWildcardOriginWrite, i, "AllowedOrigin \"*\" with "+strings.Join(writes, ", ")+": any site a visitor opens may send these to the bucket from the visitor's browser, and with \"*\" every page that holds a presigned URL or keys can use them. List the origins of the pages that write instead of \"*\".")
		}
		uploads := allowedOf(r, "PUT", "POST")
		if len(uploads) > 0 && !exposes(r, "ETag") {
			add(WarnETagNotExposed, i, "the rule allows "+strings.Join(uploads, " and ")+" but does not expose ETag: a page cannot read the ETag of an upload, so browser multipart uploads, which must send each part's ETag to CompleteMultipartUpload, fail (the AWS SDK's multipart Upload stops with \"missing ETag in UploadPart response\"). Add <ExposeHeader>ETag</ExposeHeader>.")
		}
		ws = append(ws, lintSDK(i, r, uploads)...)
		if w, ok := lintMaxAge(i, r); ok {
			ws = append(ws, w)
		}
	}
	return ws
}

// ruleName names rule i of c in a message: its index, and its ID when it
// has one.
func ruleName(c *Configuration, i int) string {
	if id := c.Rules[i].ID; id != "" {
		return strconv.Itoa(i) + " (" + strconv.Quote(id) + ")"
	}
	return strconv.Itoa(i)
}

// allowedOf returns those of methods that r allows, in the order given.
func allowedOf(r *Rule, methods ...string) []string {
	var out []string
	for _, m := range methods {
		if slices.Contains(r.AllowedMethods, m) {
			out = append(out, m)
		}
	}
	return out
}

// exposes reports whether r exposes the response header name; header names
// compare without case, as browsers compare them.
func exposes(r *Rule, name string) bool {
	return slices.ContainsFunc(r.ExposeHeaders, func(h string) bool { return strings.EqualFold(h, name) })
}

// allowsHeader reports whether a preflight that names the header name, in
// lowercase, passes the headers of r (spec B.3).
func allowsHeader(r *Rule, name string) bool {
	return slices.ContainsFunc(r.AllowedHeaders, func(p string) bool { return patternMatches(lowerASCII(p), name) })
}

// The headers the AWS SDK for JavaScript v3 sends from a browser for an
// upload, when the page signs requests itself (it allows Authorization):
// SigV4 signs with x-amz-date and x-amz-content-sha256; a browser may not
// set User-Agent, so the SDK sends x-amz-user-agent; its retry middleware
// adds amz-sdk-invocation-id and amz-sdk-request. (LocalStack lists the
// same for its S3 CORS, localstack/localstack#4277, "Add CORS headers
// needed for AWS SDK v3".) Since @aws-sdk/client-s3 3.729.0 the SDK also
// checksums uploads by default, with CRC32 (aws/aws-sdk-js-v3#6810): for
// PutObject and UploadPart the flexible-checksums middleware sets the
// algorithm member's header, x-amz-sdk-checksum-algorithm, and for a body
// it can hash whole (a browser's Blob or buffer) x-amz-checksum-crc32
// (packages/middleware-flexible-checksums/src/flexibleChecksumsMiddleware.ts).
// For CreateMultipartUpload, a POST, the multipart Upload of lib-storage
// sets ChecksumAlgorithm to CRC32, sent as x-amz-checksum-algorithm; it
// then reads the ETag and the x-amz-checksum-* of each UploadPart response,
// and sends them in CompleteMultipartUpload, which S3 fails without the
// part checksums ("The upload was created using a crc32 checksum. The
// complete request must include the checksum for each part."; lib/
// lib-storage/src/Upload.ts, aws/aws-sdk-js-v3#6818). Presigned URLs carry
// signature and checksum in the query, so a page that only uses them sends
// none of these.
var (
	sdkSigning         = []string{"x-amz-date", "x-amz-content-sha256", "x-amz-user-agent", "amz-sdk-invocation-id", "amz-sdk-request"}
	sdkPutChecksum     = []string{"x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm"}
	sdkPostChecksum    = []string{"x-amz-checksum-algorithm"}
	sdkChecksumExposed = "x-amz-checksum-crc32"
)

// lintSDK checks a rule that lets a page sign uploads with the AWS SDK.
func lintSDK(i int, r *Rule, uploads []string) []Warning {
	if len(uploads) == 0 || !allowsHeader(r, "authorization") {
		return nil
	}
	need := slices.Clone(sdkSigning)
	if slices.Contains(uploads, "PUT") {
		need = append(need, sdkPutChecksum...)
	}
	if slices.Contains(uploads, "POST") {
		need = append(need, sdkPostChecksum...)
	}
	var missing []string
	for _, h := range need {
		if !allowsHeader(r, h) {
			missing = append(missing, h)
		}
	}
	var ws []Warning
	if len(missing) > 0 {
		ws = append(ws, Warning{WarnSDKChecksumHeaders, i, "the rule lets pages sign uploads themselves (it allows Authorization) but not these headers, which the AWS SDK for JavaScript v3 sends with them (with its default CRC32 checksums since 3.729.0): " + strings.Join(missing, ", ") + ". Its preflights are refused. Allow them, or AllowedHeader *."})
	}
	if len(uploads) == 2 && !exposes(r, sdkChecksumExposed) {
		ws = append(ws, Warning{WarnSDKChecksumHeaders, i, "the rule lets pages sign multipart uploads themselves (PUT and POST, and Authorization) but does not expose " + sdkChecksumExposed + ": the AWS SDK's multipart Upload reads it from each part's response and sends it to CompleteMultipartUpload, which S3 refuses without it (\"The upload was created using a crc32 checksum\"). Add <ExposeHeader>" + sdkChecksumExposed + "</ExposeHeader>, and x-amz-checksum-crc32c, -sha1 or -sha256 if the page picks another ChecksumAlgorithm."})
	}
	return ws
}

// Browsers keep a preflight's answer for at most: WebKit (Safari) 600 s
// (maxPreflightCacheTimeout in CrossOriginPreflightResultCache.cpp),
// Chromium 7200 s (kMaxTimeout in preflight_result.cc), Firefox 86400 s
// (MDN, Access-Control-Max-Age).
var browserCaps = []struct {
	seconds  int
	browsers string
}{
	{600, "WebKit (Safari) 600 s"},
	{7200, "Chromium (Chrome, Edge) 7200 s"},
	{86400, "Firefox 86400 s"},
}

func lintMaxAge(i int, r *Rule) (Warning, bool) {
	if r.MaxAgeSeconds == nil || *r.MaxAgeSeconds <= browserCaps[0].seconds {
		return Warning{}, false
	}
	var capped []string
	for _, c := range browserCaps {
		if *r.MaxAgeSeconds > c.seconds {
			capped = append(capped, c.browsers)
		}
	}
	return Warning{WarnMaxAgeOverBrowserCap, i, "MaxAgeSeconds " + strconv.Itoa(*r.MaxAgeSeconds) + " is more than these browsers keep a preflight: " + strings.Join(capped, ", ") + "; they send it again sooner. Set " + strconv.Itoa(browserCaps[0].seconds) + " or less for a value every browser keeps."}, true
}

// originProblem says why browsers never send an origin that the AllowedOrigin
// o matches, and how to write it instead; why is "" when they may.
// Browsers send "null" or a scheme, "://", a host and a port other than the
// scheme's default, all in lower case, with international host names in
// punycode, and nothing else: no path, no trailing slash, no white space.
// Matching is exact and case-sensitive (spec B.3), so o must be written so.
func originProblem(o string) (why, fix string) {
	if o == "*" || o == "null" {
		return "", ""
	}
	if o == "" {
		return "a request without an Origin, or with an empty one, is no CORS request (spec B.1 P1)", "Remove it."
	}
	var whys []string
	v := o
	if t := strings.Trim(v, " \t\r\n"); t != v {
		whys, v = append(whys, "browsers send no white space around an origin"), t
	}
	if l := lowerASCII(v); l != v {
		whys, v = append(whys, "browsers send the scheme and host in lower case, and matching is case-sensitive"), l
	}
	for _, c := range []byte(v) {
		if c >= 0x80 {
			whys = append(whys, "browsers send international host names in punycode (xn--…)")
			break
		}
	}
	scheme, rest, url := strings.Cut(v, "://")
	if !url {
		star := strings.IndexByte(v, '*')
		if star < 0 {
			whys = append(whys, "browsers send a scheme (https://…)")
			v = "https://" + v
			scheme, rest = "https", v[len("https://"):]
		} else {
			// Such as "*.example.com", whose "*" may stand for the scheme:
			// what follows it is the end of a host and port.
			scheme, rest = "", v[star+1:]
		}
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		whys = append(whys, "browsers send an origin without a path or trailing slash")
		v = strings.TrimSuffix(v, rest[i:])
		rest = rest[:i]
	}
	for _, d := range [...]struct{ scheme, port string }{{"https", ":443"}, {"http", ":80"}} {
		if scheme == d.scheme && strings.HasSuffix(rest, d.port) && !strings.HasSuffix(rest, "*"+d.port) {
			whys = append(whys, "browsers leave out the default port "+d.port[1:]+" of "+d.scheme)
			v = strings.TrimSuffix(v, d.port)
		}
	}
	if len(whys) == 0 {
		return "", ""
	}
	return strings.Join(whys, "; "), "Use " + strconv.Quote(v) + "."
}

// covers reports whether rule p matches every request that rule q matches,
// as far as can be shown pattern by pattern: every origin of q is covered
// by one of p's, q's methods are p's, and every requested header q allows p
// allows. A rule that matches nothing is covered by none, so that no rule
// is reported shadowed for a reason other than the one the warning gives.
func covers(p, q *Rule) bool {
	matchable := false
	for _, o := range q.AllowedOrigins {
		if o == "" || strings.Count(o, "*") > 1 {
			continue // never matches
		}
		matchable = true
		if !slices.ContainsFunc(p.AllowedOrigins, func(po string) bool { return patternCovers(po, o) }) {
			return false
		}
	}
	if !matchable {
		return false
	}
	for _, m := range q.AllowedMethods {
		if methodBit(m) != 0 && !slices.Contains(p.AllowedMethods, m) {
			return false
		}
	}
	if slices.Contains(p.AllowedHeaders, "*") {
		return true
	}
	for _, h := range q.AllowedHeaders {
		h = lowerASCII(h)
		if h == "" || strings.Count(h, "*") > 1 {
			continue // matches no name
		}
		if !slices.ContainsFunc(p.AllowedHeaders, func(ph string) bool { return patternCovers(lowerASCII(ph), h) }) {
			return false
		}
	}
	return true
}

// patternCovers reports whether every string the pattern q matches, the
// pattern p matches too. Both have at most one "*" (spec B.3); "*" alone
// covers everything but the empty string, which no request sends.
func patternCovers(p, q string) bool {
	qs := strings.IndexByte(q, '*')
	if qs < 0 {
		return patternMatches(p, q)
	}
	ps := strings.IndexByte(p, '*')
	if ps < 0 || strings.IndexByte(p[ps+1:], '*') >= 0 {
		return false
	}
	// q's strings are its prefix, anything, its suffix: p covers them all
	// exactly when p's prefix starts q's and p's suffix ends q's.
	return strings.HasPrefix(q[:qs], p[:ps]) && strings.HasSuffix(q[qs+1:], p[ps+1:])
}

// patternMatches reports whether s matches the pattern p, case-sensitively
// (spec B.3); a pattern with more than one "*" matches nothing.
func patternMatches(p, s string) bool {
	star := strings.IndexByte(p, '*')
	switch {
	case star < 0:
		return p == s
	case strings.IndexByte(p[star+1:], '*') >= 0:
		return false
	}
	return matchWildcard(s, p[:star], p[star+1:])
}
