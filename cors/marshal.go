package cors

import (
	"strconv"

	"github.com/s3cors/caddy-s3-cors/internal/xmltext"
)

// Marshal renders the configuration as the body of a GetBucketCors response
// (spec A.7): an XML declaration, the root element in S3's namespace, the
// rules in order, and in each rule its values verbatim and in order, with the
// elements in the order of S3's API reference (AllowedHeader, AllowedMethod,
// AllowedOrigin, ExposeHeader, ID, MaxAgeSeconds). Elements that were not set
// are left out. Values are escaped as S3 escapes text (spec A.8): quotes are
// kept as they are. Parse reads the result back to an equal configuration.
//
// c is expected to be valid; text an XML document cannot carry would be
// replaced by U+FFFD.
func (c *Configuration) Marshal() []byte {
	b := make([]byte, 0, 512)
	b = append(b, xmltext.Declaration...)
	b = append(b, `<CORSConfiguration xmlns="`+Namespace+`">`...)
	if c != nil {
		for i := range c.Rules {
			r := &c.Rules[i]
			b = append(b, "<CORSRule>"...)
			b = appendElements(b, "AllowedHeader", r.AllowedHeaders)
			b = appendElements(b, "AllowedMethod", r.AllowedMethods)
			b = appendElements(b, "AllowedOrigin", r.AllowedOrigins)
			b = appendElements(b, "ExposeHeader", r.ExposeHeaders)
			if r.ID != "" {
				b = xmltext.AppendElement(b, "ID", r.ID)
			}
			if r.MaxAgeSeconds != nil {
				b = xmltext.AppendElement(b, "MaxAgeSeconds", strconv.Itoa(*r.MaxAgeSeconds))
			}
			b = append(b, "</CORSRule>"...)
		}
	}
	return append(b, "</CORSConfiguration>"...)
}

func appendElements(b []byte, name string, values []string) []byte {
	for _, v := range values {
		b = xmltext.AppendElement(b, name, v)
	}
	return b
}
