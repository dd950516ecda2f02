package cors

import (
	"encoding/binary"
	"net/http"
	"strings"
	"unsafe"
)

// Response header names, in canonical form for direct map assignment.
const (
	headerACAO = "Access-Control-Allow-Origin"
	headerACAC = "Access-Control-Allow-Credentials"
	headerACAM = "Access-Control-Allow-Methods"
	headerACAH = "Access-Control-Allow-Headers"
	headerACEH = "Access-Control-Expose-Headers"
	headerACMA = "Access-Control-Max-Age"
	headerVary = "Vary"
)

// VaryValue is the Vary header S3 sends with every matched CORS response, and
// only then (spec E.1 #9).
const VaryValue = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

// responseValues is the per-response backing of every header value set by
// WriteHeaders: fresh for each response, so that nothing handed to the
// response is shared with another one or with the policy.
type responseValues [7]string

// When the Access-Control-Allow-Headers value must be built, its bytes share
// the response's one allocation, sized to the value: 160, 208 or 320 bytes.
// 208 bytes hold the list an AWS SDK sends for a checksummed upload with a
// security token; a longer value costs a second allocation.
type (
	valuesACAH48 struct {
		values responseValues
		acah   [48]byte
	}
	valuesACAH96 struct {
		values responseValues
		acah   [96]byte
	}
	valuesACAH208 struct {
		values responseValues
		acah   [208]byte
	}
)

const acahInline = len(valuesACAH208{}.acah)

// newValues returns fresh response values, and a buffer of capacity n for the
// Access-Control-Allow-Headers value when n > 0.
func newValues(n int) (*responseValues, []byte) {
	switch {
	case n == 0:
		return new(responseValues), nil
	case n <= len(valuesACAH48{}.acah):
		r := new(valuesACAH48)
		return &r.values, r.acah[:0:n]
	case n <= len(valuesACAH96{}.acah):
		r := new(valuesACAH96)
		return &r.values, r.acah[:0:n]
	case n <= acahInline:
		r := new(valuesACAH208)
		return &r.values, r.acah[:0:n]
	}
	return new(responseValues), make([]byte, 0, n)
}

// WriteHeaders sets the CORS response headers of an allowed decision on h
// exactly as spec B.4 and C.2 describe: Access-Control-Allow-Origin ("*" when
// the rule lists "*", else the request's Origin), Access-Control-Allow-
// Credentials "true" when the origin is echoed, Access-Control-Allow-Methods
// (all of the rule's methods), Access-Control-Allow-Headers when the request
// named headers, Access-Control-Expose-Headers and Access-Control-Max-Age when
// the rule sets them, and Vary. Headers the decision does not call for are not
// touched; a caller merging with an upstream response removes the upstream's
// Access-Control-* headers first. It does nothing for a denied decision.
//
// All values share one new backing array, so the response owns what it gets:
// code that later changes the values in place cannot affect other responses.
// That array is the only allocation, unless the requested list is long enough
// for its Access-Control-Allow-Headers value to exceed 208 bytes, which costs
// a second.
func (d Decision) WriteHeaders(h http.Header) {
	// Small enough to inline, so that a denied decision costs one compare.
	if d.Allowed() {
		d.write(h)
	}
}

func (d *Decision) write(h http.Header) {
	ru := d.rule
	var v *responseValues
	var acah string
	if !d.named {
		v, _ = newValues(0)
	} else if line, ok := echoable(d.acrh); ok {
		// Already the value S3 sends: strings are immutable, so the request's
		// string can be used as it is; only the slice must be fresh.
		v, _ = newValues(0)
		acah = line
	} else {
		var b []byte
		v, b = newValues(acahCap(d.acrh))
		b = appendACAH(b, d.acrh)
		// The bytes share the response's one allocation and are never
		// written again, so they can be a string without a copy. string(b)
		// would be a second allocation on every allowed preflight that names
		// headers not already in S3's form: BenchmarkCORS/case=wildcard in
		// bench/ counts it (its target is one allocation).
		acah = unsafe.String(unsafe.SliceData(b), len(b))
	}
	if ru.flags&anyOrigin != 0 {
		v[0] = "*"
	} else {
		v[0] = d.text
		v[1] = "true"
		h[headerACAC] = v[1:2:2]
	}
	h[headerACAO] = v[0:1:1]
	v[2] = ru.acam
	h[headerACAM] = v[2:3:3]
	if d.named {
		v[3] = acah
		h[headerACAH] = v[3:4:4]
	}
	if ru.flags&hasExpose != 0 {
		v[4] = ru.aceh
		h[headerACEH] = v[4:5:5]
	}
	if ru.acma != "" {
		v[5] = ru.acma
		h[headerACMA] = v[5:6:6]
	}
	v[6] = VaryValue
	h[headerVary] = v[6:7:7]
}

// acahCap bounds the length of the Access-Control-Allow-Headers value for
// lines from above, without reading the names: each "," may become ", ", and
// lines are joined by ", ".
func acahCap(lines []string) int {
	n := 2 * (len(lines) - 1)
	for _, s := range lines {
		n += len(s) + strings.Count(s, ",")
	}
	return n
}

// echoable returns the one line of the list that names headers when it is
// already the Access-Control-Allow-Headers value: lowercase names joined by
// ", ", with nothing around them. Browsers send a single name in that form.
func echoable(lines []string) (string, bool) {
	var line string
	for _, s := range lines {
		if strings.Trim(s, ", \t") == "" {
			continue
		}
		if line != "" {
			return "", false
		}
		line = s
	}
	if line == "" || line[0] == ' ' || line[0] == ',' || line[len(line)-1] == ' ' || line[len(line)-1] == ',' {
		return "", false
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case 'A' <= c && c <= 'Z', c == '\t', c == ' ':
			return "", false
		case c == ',':
			// Exactly ", " and then a name.
			if i+2 >= len(line) || line[i+1] != ' ' {
				return "", false
			}
			if n := line[i+2]; n == ' ' || n == '\t' || n == ',' {
				return "", false
			}
			i++
		}
	}
	return line, true
}

// appendACAH appends the Access-Control-Allow-Headers value (spec B.4): the
// requested names lowercased, in request order, joined by ", ".
func appendACAH(b []byte, lines []string) []byte {
	start := len(b)
	for _, s := range lines {
		for s != "" {
			var name string
			if name, s = cutName(s); name == "" {
				continue
			}
			if len(b) > start {
				b = append(b, ", "...)
			}
			b = append(b, name...)
		}
	}
	lowerInPlace(b[start:])
	return b
}

// lowerInPlace lowercases the ASCII letters of b, eight bytes at a time:
// a loop over every byte would cost as much as the rest of the response.
func lowerInPlace(b []byte) {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], lower8(binary.LittleEndian.Uint64(b[i:])))
	}
	for ; i < len(b); i++ {
		b[i] = toLower(b[i])
	}
}

// lower8 lowercases the ASCII letters among the eight bytes of w.
func lower8(w uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x80 * ones
	)
	// For a byte x below 0x80, x+0x3f has its high bit set when x >= 'A'
	// and x+0x25 when x > 'Z'; neither sum carries into the next byte.
	// Bytes from 0x80 up are left out by the last mask.
	low7 := w &^ high
	upper := (low7 + 0x3f*ones) &^ (low7 + 0x25*ones) &^ w & high
	return w | upper>>2
}
