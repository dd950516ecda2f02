package cors

import (
	"errors"
	"strings"
	"testing"
)

// Parse's errors point at the element whose value S3 refuses, or at where
// the document stopped being XML or a CORSConfiguration, so that an
// operator can find the mistake in a file.
func TestParseErrorPosition(t *testing.T) {
	lines := func(l ...string) string { return strings.Join(l, "\n") }
	tests := []struct {
		name         string
		doc          string
		code         string
		line, column int
	}{
		{"V6 unsupported method", lines(
			`<CORSConfiguration>`,
			`  <CORSRule>`,
			`    <AllowedOrigin>*</AllowedOrigin>`,
			`    <AllowedMethod>GET</AllowedMethod>`,
			`    <AllowedMethod>PATCH</AllowedMethod>`,
			`  </CORSRule>`,
			`</CORSConfiguration>`), CodeInvalidRequest, 5, 5},
		{"V9 origin in the second rule", lines(
			`<CORSConfiguration>`,
			`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`,
			`<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>a</AllowedOrigin><AllowedOrigin>**</AllowedOrigin></CORSRule>`,
			`</CORSConfiguration>`), CodeInvalidRequest, 3, 77},
		{"V10 header wildcard", lines(`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>`,
			`<AllowedMethod>GET</AllowedMethod>`, `  <AllowedHeader>x-*-*</AllowedHeader></CORSRule></CORSConfiguration>`), CodeInvalidRequest, 3, 3},
		{"V11 expose wildcard", lines(`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>`,
			`<ExposeHeader>ETag</ExposeHeader><ExposeHeader>*</ExposeHeader></CORSRule></CORSConfiguration>`), CodeInvalidRequest, 2, 34},
		{"V5 no method: the rule", lines(`<CORSConfiguration>`, ``, `   <CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>`, `</CORSConfiguration>`), CodeMalformedXML, 3, 4},
		{"V1 no rules: the root", lines(`<?xml version="1.0"?>`, `<CORSConfiguration>`, `</CORSConfiguration>`), CodeMalformedXML, 2, 1},
		{"V12 the first rule too many", "<CORSConfiguration>\n" + strings.Repeat(okRule+"\n", 101) + "</CORSConfiguration>", CodeInvalidRequest, 102, 1},
		{"V18 unknown element", lines(`<CORSConfiguration><CORSRule>`, `<AllowedOrigin>*</AllowedOrigin>`, `	<AllowedHeaders>x</AllowedHeaders>`, `</CORSRule></CORSConfiguration>`), CodeMalformedXML, 3, 2},
		{"V13 MaxAgeSeconds not an integer", lines(`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>`,
			`<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule></CORSConfiguration>`), CodeMalformedXML, 2, 1},
		{"V2 mismatched end tag", lines(`<CORSConfiguration>`, `<CORSRule>`, `<AllowedOrigin>*</AllowedMethod>`, `</CORSRule></CORSConfiguration>`), CodeMalformedXML, 3, 0},
		{"V2 unclosed document", lines(`<CORSConfiguration>`, `<CORSRule><AllowedOrigin>*</AllowedOrigin>`), CodeMalformedXML, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("Parse: %v, want an *Error", err)
			}
			if e.Code != tt.code || e.Line != tt.line || (tt.column != 0 && e.Column != tt.column) {
				t.Errorf("got %s at line %d, column %d; want %s at line %d, column %d", e.Code, e.Line, e.Column, tt.code, tt.line, tt.column)
			}
			// The position is for operators: S3's text stays as it was.
			if e.Error() != e.Code+": "+e.Message {
				t.Errorf("Error() = %q", e.Error())
			}
		})
	}
	if e, _ := errors.AsType[*Error]((&Configuration{}).Validate()); e == nil || e.Line != 0 || e.Column != 0 {
		t.Errorf("Validate, which has no document, gave a position: %+v", e)
	}
}
