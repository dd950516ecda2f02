package cors

import (
	"net/http"
	"strings"
)

// Request is what CORS evaluation reads from an HTTP request.
type Request struct {
	Origin           string   // "" when absent or empty
	Method           string   // the request's own HTTP method
	RequestMethod    string   // Access-Control-Request-Method
	HasRequestMethod bool     // whether Access-Control-Request-Method was sent, even empty
	RequestHeaders   []string // Access-Control-Request-Headers lines as received; nil when absent
}

// NewRequest reads a Request from header with direct map access (no
// Header.Get, no allocation). header must have canonical keys, as the ones
// net/http builds do. Of repeated Origin or Access-Control-Request-Method
// lines the first is used; Access-Control-Request-Headers lines are all kept,
// since intermediaries may split one list over several lines.
func NewRequest(method string, header http.Header) Request {
	r := Request{Method: method}
	if v := header["Origin"]; len(v) > 0 {
		r.Origin = v[0]
	}
	if v := header["Access-Control-Request-Method"]; len(v) > 0 {
		r.RequestMethod, r.HasRequestMethod = v[0], true
	}
	if v := header["Access-Control-Request-Headers"]; len(v) > 0 {
		r.RequestHeaders = v
	}
	return r
}

// The names of an Access-Control-Request-Headers value, given as its lines,
// are read the way spec B.3 says: split on ",", spaces and tabs trimmed, empty
// items skipped. The loops that read them never allocate; the names are
// substrings of the lines, in their original case.

// scanRequestHeaders makes the bounded first pass over the lines: it reports
// whether their joined size exceeds MaxRequestHeadersSize (stopping as soon as
// it does, so the work is bounded by the cap however many lines there are) and
// otherwise whether they name at least one header.
func scanRequestHeaders(lines []string) (tooLarge, named bool) {
	n := 0
	for i, s := range lines {
		if i > 0 {
			n++ // the "," that joins two lines
		}
		n += len(s)
		if n > MaxRequestHeadersSize {
			return true, false
		}
	}
	for _, s := range lines {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c != ',' && c != ' ' && c != '\t' {
				return false, true
			}
		}
	}
	return false, false
}

// cutName splits the next item off a line; name is "" for an empty item.
func cutName(line string) (name, rest string) {
	item := line
	if i := strings.IndexByte(line, ','); i >= 0 {
		item, rest = line[:i], line[i+1:]
	}
	return trimOWS(item), rest
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
