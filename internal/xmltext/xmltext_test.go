package xmltext

import (
	"encoding/xml"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppend(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		// S3 leaves quotes and apostrophes as they are (docs/s3-cors-spec.md A.8).
		{`AllowedOrigin "*example*.com" can not have more than one wildcard.`, `AllowedOrigin "*example*.com" can not have more than one wildcard.`},
		{"the region 's3' is wrong", "the region 's3' is wrong"},
		{"a<b>&c", "a&lt;b&gt;&amp;c"},
		{"&amp;", "&amp;amp;"},
		{"line\r\nnext\ttab", "line&#xD;\nnext\ttab"},
		{"nul\x00bell\x07esc\x1b", "nul\uFFFDbell\uFFFDesc\uFFFD"},
		{"bad\xffutf8\xed\xa0\x80", "bad\uFFFDutf8\uFFFD\uFFFD\uFFFD"},
		{"\uFFFE\uFFFF", "\uFFFD\uFFFD"},
		{"é\U0001F600\uFFFD\u00A0", "é\U0001F600\uFFFD\u00A0"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(Append([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("Append(%q) = %q, want %q", tt.in, got[1:], tt.want)
		}
	}
	if got := string(AppendElement(nil, "Message", `a "b" <c>`)); got != `<Message>a "b" &lt;c&gt;</Message>` {
		t.Errorf("AppendElement: %q", got)
	}
}

// TestValid: Valid(s) holds exactly when a reader gets s back from what
// Append wrote, for strings made of every kind of byte.
func TestValid(t *testing.T) {
	pieces := []string{"a", "\"", "'", "&", "<", ">", "\r", "\n", "\t", "\x00", "\x1f", "\x7f", "\xff", "\xc3", "é", "\uFFFD", "\uFFFE", "\U0010FFFF", "\xed\xa0\x80"}
	for i := range 20000 {
		var b strings.Builder
		for n, k := i, 0; k < 4; n, k = n/len(pieces), k+1 {
			b.WriteString(pieces[n%len(pieces)])
		}
		s := b.String()
		doc := append([]byte("<v>"), Append(nil, s)...)
		doc = append(doc, "</v>"...)
		var v struct {
			Text string `xml:",chardata"`
		}
		if err := xml.Unmarshal(doc, &v); err != nil {
			t.Fatalf("%q: the document does not parse: %v", doc, err)
		}
		if Valid(s) != (v.Text == s) {
			t.Fatalf("Valid(%q) = %v, but the text reads back as %q", s, Valid(s), v.Text)
		}
		if !utf8.ValidString(v.Text) {
			t.Fatalf("%q reads back as invalid UTF-8", s)
		}
	}
}
