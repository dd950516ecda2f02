// Package xmltext writes the text of the XML documents the project sends:
// S3's error bodies (package s3) and GetBucketCors bodies (package cors).
// Both use it, so that both escape alike, the way S3's recorded responses
// do (docs/s3-cors-spec.md, A.8).
//
// It is a leaf: it imports nothing of the project. The rule that cors and s3
// import nothing of each other, or of the project's other packages, is about
// those packages; a leaf they share keeps one copy of the escaping without
// coupling them.
package xmltext

import "unicode/utf8"

// Declaration is the XML declaration S3 puts at the head of its documents,
// with the newline that follows it.
const Declaration = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// Append appends s to b as the character data of an element. Only what XML
// requires is escaped: "&", "<" and ">", and CR as "&#xD;" (a raw CR would
// be read back as LF). Quotes and apostrophes are written as they are, as S3
// does. A character an XML 1.0 document cannot carry (invalid UTF-8, a
// control character other than tab, LF and CR, U+FFFE, U+FFFF) becomes
// U+FFFD, so that no value, however hostile, can break the document.
func Append(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				b = append(b, "&amp;"...)
			case c == '<':
				b = append(b, "&lt;"...)
			case c == '>':
				b = append(b, "&gt;"...)
			case c == '\r':
				b = append(b, "&#xD;"...)
			case !char(rune(c)):
				b = append(b, "\uFFFD"...)
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !char(r) {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// AppendElement appends <name>value</name>, value as Append writes it.
func AppendElement(b []byte, name, value string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = Append(b, value)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// Valid reports whether s is text an XML document can carry: valid UTF-8
// with no character that Append would replace, so that a reader gets s back.
func Valid(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !char(r) {
			return false
		}
	}
	return true
}

// char reports whether r is a character of XML 1.0 (its Char production).
func char(r rune) bool {
	switch {
	case r < 0x20:
		return r == '\t' || r == '\n' || r == '\r'
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false // surrogates
	}
	return r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF
}
