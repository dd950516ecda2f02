package s3

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"net/http"

	"github.com/s3cors/caddy-s3-cors/internal/xmltext"
)

// IDs are the x-amz-request-id / x-amz-id-2 pair of one response. S3 repeats
// them in an error body as RequestId and HostId.
type IDs struct{ RequestID, HostID string }

const requestIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewIDs returns fresh IDs shaped like S3's: a request ID of 16 upper-case
// letters and digits, and a host ID of 56 random bytes in base64 (76
// characters). They only have to be unique enough to find a request in a log,
// so they come from math/rand, which never blocks and is safe for concurrent use.
func NewIDs() IDs {
	// 72 random bytes: 16 pick the request ID's characters (the modulo's
	// bias is far below what an identifier in a log cares about), 56 become
	// the host ID.
	var rnd [72]byte
	for i := 0; i < len(rnd); i += 8 {
		binary.LittleEndian.PutUint64(rnd[i:], rand.Uint64())
	}
	// Both IDs are cut from one string: one allocation per response.
	var b [16 + 76]byte
	for i := range 16 {
		b[i] = requestIDAlphabet[int(rnd[i])%len(requestIDAlphabet)]
	}
	base64.StdEncoding.Encode(b[16:], rnd[16:])
	s := string(b[:])
	return IDs{RequestID: s[:16], HostID: s[16:]}
}

// Set sets the x-amz-request-id and x-amz-id-2 headers, replacing any that
// are there (an upstream's, copied by a proxy under canonical names). The
// names are written in S3's lower case, bypassing canonicalisation.
func (ids IDs) Set(h http.Header) {
	h.Del("X-Amz-Request-Id")
	h.Del("X-Amz-Id-2")
	v := &[2]string{ids.RequestID, ids.HostID}
	h["x-amz-request-id"] = v[0:1:1]
	h["x-amz-id-2"] = v[1:2:2]
}

// WriteError writes e as S3 does (spec A.8): an XML declaration, a newline,
// then one line <Error><Code/><Message/>extras<RequestId/><HostId/></Error>,
// with Content-Type application/xml, the ids in the headers, and
// Connection: close on a 400.
func WriteError(w http.ResponseWriter, ids IDs, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	ids.Set(h)
	if e.StatusCode == http.StatusBadRequest {
		h.Set("Connection", "close")
	}
	w.WriteHeader(e.StatusCode)
	// Room for the fixed parts, the IDs and a typical message, so that the
	// document is built in one allocation.
	_, _ = w.Write(e.appendXML(make([]byte, 0, 384+len(e.Message)), ids))
}

// appendXML appends the error document of e to b.
func (e *Error) appendXML(b []byte, ids IDs) []byte {
	b = append(b, xmltext.Declaration...)
	b = append(b, "<Error>"...)
	b = xmltext.AppendElement(b, "Code", e.Code)
	b = xmltext.AppendElement(b, "Message", e.Message)
	for _, f := range e.Extra {
		b = xmltext.AppendElement(b, f.Name, f.Value)
	}
	b = xmltext.AppendElement(b, "RequestId", ids.RequestID)
	b = xmltext.AppendElement(b, "HostId", ids.HostID)
	return append(b, "</Error>"...)
}
