package s3

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseAuthorization feeds arbitrary Authorization headers to the
// parser: it must never panic, must refuse with an S3 error, and what it
// accepts must survive a round trip through the canonical layout.
func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		"AWS4-HMAC-SHA256 Credential=AK/20260314/us-east-1/s3/aws4_request,SignedHeaders=content-md5;host,Signature=00",
		"AWS4-HMAC-SHA256 Credential=AK/20260314/us-east-1/s3/aws4_request",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=",
		"AWS4-HMAC-SHA256 Credential=AK/2026031/us-east-1/ec2/aws4_reques, Signed=x, Signature=1",
		"AWS4-HMAC-SHA256 ,,,",
		"AWS4-HMAC-SHA256 Credential==, Credential==",
		"AWS4-ECDSA-P256-SHA256 Credential=AK/20260314/s3/aws4_request, SignedHeaders=host, Signature=3045",
		"AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
		"Bearer token",
		"AWS4-HMAC-SHA256",
		"",
		"AWS4-HMAC-SHA256 \t Credential=AK/20260314/us-east-1/s3/aws4_request,\tSignedHeaders=HOST;X-Amz-Date ,Signature=AB",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		a, err := parseAuthorization(value)
		if err != nil {
			if err.Code == "" || err.Message == "" || err.StatusCode < 400 {
				t.Fatalf("refusal without an S3 error: %+v", err)
			}
			return
		}
		if !validScopeDate(a.scope.date) {
			t.Fatalf("accepted a credential without a valid date: %+v", a)
		}
		for _, name := range a.signedHeaders {
			if name != strings.ToLower(name) {
				t.Fatalf("signed header %q is not lower case", name)
			}
		}
		again := "AWS4-HMAC-SHA256 Credential=" + a.scope.accessKeyID + "/" + a.scope.date + "/" + a.scope.region +
			"/s3/aws4_request, SignedHeaders=" + strings.Join(a.signedHeaders, ";") + ", Signature=" + a.signature
		b, err := parseAuthorization(again)
		if err != nil {
			// Only a value that itself holds the separators cannot round trip.
			if strings.ContainsAny(a.scope.accessKeyID+a.scope.region+a.signature+strings.Join(a.signedHeaders, ""), ",/ \t") {
				return
			}
			t.Fatalf("%q parsed, its canonical layout %q did not: %v", value, again, err)
		}
		if b.scope != a.scope || b.signature != a.signature || strings.Join(b.signedHeaders, ";") != strings.Join(a.signedHeaders, ";") {
			t.Fatalf("round trip changed %+v into %+v", a, b)
		}
	})
}

// FuzzParsePresigned feeds arbitrary query strings to the presigned-URL
// parser: no panic, S3 errors only, and accepted values are within S3's
// limits.
func FuzzParsePresigned(f *testing.F) {
	for _, seed := range []string{
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
		"cors=&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=content-md5%3Bhost&X-Amz-Signature=00",
		"X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=a&X-Amz-Date=x&X-Amz-Expires=-1&X-Amz-SignedHeaders=&X-Amz-Signature=",
		"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260313%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-Expires=1h&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
		"X-Amz-Signature=00",
		"cors",
		"%zz=1&X-Amz-Date=20261301T000000Z",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		query, _ := url.ParseQuery(rawQuery)
		p, err := parsePresigned(query)
		if err != nil {
			if err.Code == "" || err.Message == "" || err.StatusCode < 400 {
				t.Fatalf("refusal without an S3 error: %+v", err)
			}
			return
		}
		if p.expires < 0 || p.expires > maxPresignExpires {
			t.Fatalf("accepted X-Amz-Expires %d", p.expires)
		}
		if p.date.Format(amzDateFormat) != p.rawDate || p.scope.date != p.rawDate[:8] {
			t.Fatalf("accepted date %q with scope date %q", p.rawDate, p.scope.date)
		}
		if !isPresigned(query) {
			t.Fatal("parsed parameters that isPresigned does not see")
		}
		// Whatever the query, the signature is never in what gets signed.
		if rest, _ := url.ParseQuery(withoutParam(rawQuery, paramSignature)); rest.Has(paramSignature) {
			t.Fatalf("withoutParam kept the signature of %q", rawQuery)
		}
	})
}
