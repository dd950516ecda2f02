package cors

import (
	"bytes"
	"encoding/xml"
	"strconv"
)

// Marshal renders the configuration as the body of a GetBucketCors response
// (spec A.7): an XML declaration, the root element in S3's namespace, the
// rules in order, and in each rule its values verbatim and in order, with the
// elements in the order of S3's API reference (AllowedHeader, AllowedMethod,
// AllowedOrigin, ExposeHeader, ID, MaxAgeSeconds). Elements that were not set
// are left out. Parse reads the result back to an equal configuration.
//
// c is expected to be valid; text an XML document cannot carry would be
// replaced by U+FFFD.
func (c *Configuration) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header) // ends with the newline S3 puts after the declaration
	b.WriteString(`<CORSConfiguration xmlns="` + Namespace + `">`)
	if c != nil {
		for i := range c.Rules {
			r := &c.Rules[i]
			b.WriteString("<CORSRule>")
			writeElements(&b, "AllowedHeader", r.AllowedHeaders)
			writeElements(&b, "AllowedMethod", r.AllowedMethods)
			writeElements(&b, "AllowedOrigin", r.AllowedOrigins)
			writeElements(&b, "ExposeHeader", r.ExposeHeaders)
			if r.ID != "" {
				writeElement(&b, "ID", r.ID)
			}
			if r.MaxAgeSeconds != nil {
				writeElement(&b, "MaxAgeSeconds", strconv.Itoa(*r.MaxAgeSeconds))
			}
			b.WriteString("</CORSRule>")
		}
	}
	b.WriteString("</CORSConfiguration>")
	return b.Bytes()
}

func writeElements(b *bytes.Buffer, name string, values []string) {
	for _, v := range values {
		writeElement(b, name, v)
	}
}

func writeElement(b *bytes.Buffer, name, value string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
	// EscapeText only fails when the writer does; a bytes.Buffer does not.
	_ = xml.EscapeText(b, []byte(value))
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}
