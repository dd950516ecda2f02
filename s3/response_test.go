package s3

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

var testIDs = IDs{RequestID: "Z4ERRATSVNEC7WS7", HostID: "vs0X+abc/def="}

func TestWriteErrorBytes(t *testing.T) {
	const decl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	const ids = "<RequestId>Z4ERRATSVNEC7WS7</RequestId><HostId>vs0X+abc/def=</HostId></Error>"
	tests := []struct {
		name   string
		err    *Error
		status int
		body   string
	}{
		{
			// The raw capture of versitygw#2083, with its IDs.
			name: "preflight on a bucket without CORS", err: &Error{StatusCode: 403, Code: "AccessForbidden",
				Message: "CORSResponse: CORS is not enabled for this bucket.",
				Extra:   []Field{{"Method", "OPTIONS"}, {"ResourceType", ResourceBucket}}}, status: 403,
			body: decl + "<Error><Code>AccessForbidden</Code><Message>CORSResponse: CORS is not enabled for this bucket.</Message>" +
				"<Method>OPTIONS</Method><ResourceType>BUCKET</ResourceType>" + ids,
		},
		{
			name: "GetBucketCors without a configuration", err: ErrNoSuchCORSConfiguration("BUCKET"), status: 404,
			body: decl + "<Error><Code>NoSuchCORSConfiguration</Code><Message>The CORS configuration does not exist</Message>" +
				"<BucketName>BUCKET</BucketName>" + ids,
		},
		{
			// Quotes stay as they are on the wire (versitygw#1870 quotes S3's bytes).
			name: "a message with quotes", err: ErrInvalidRequest(`AllowedOrigin "*example*.com" can not have more than one wildcard.`), status: 400,
			body: decl + `<Error><Code>InvalidRequest</Code><Message>AllowedOrigin "*example*.com" can not have more than one wildcard.</Message>` + ids,
		},
		{
			name: "markup in a value is escaped", err: ErrNoSuchBucket("a<b>&c"), status: 404,
			body: decl + "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>" +
				"<BucketName>a&lt;b&gt;&amp;c</BucketName>" + ids,
		},
		{
			name: "characters XML cannot carry become U+FFFD", err: ErrInvalidBucketOwnerAWSAccountID("a\x00b\xffc\rd\uFFFEé\t"), status: 400,
			body: decl + "<Error><Code>InvalidBucketOwnerAWSAccountID</Code><Message>The value of the expected bucket owner " +
				"parameter must be an AWS Account ID... [a\uFFFDb\uFFFDc&#xD;d\uFFFDé\t]</Message>" + ids,
		},
		{
			name: "expired presigned URL", err: ErrRequestExpired("300", "2025-06-03T12:26:02Z", "2025-06-03T14:34:02Z"), status: 403,
			body: decl + "<Error><Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>300</X-Amz-Expires>" +
				"<Expires>2025-06-03T12:26:02Z</Expires><ServerTime>2025-06-03T14:34:02Z</ServerTime>" + ids,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, testIDs, tt.err)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Body.String(); got != tt.body {
				t.Errorf("body\n got %q\nwant %q", got, tt.body)
			}
			h := w.Header()
			if h.Get("Content-Type") != "application/xml" || h["x-amz-request-id"][0] != testIDs.RequestID ||
				h["x-amz-id-2"][0] != testIDs.HostID {
				t.Errorf("headers %v", h)
			}
			if close := h.Get("Connection") == "close"; close != (tt.status == 400) {
				t.Errorf("Connection: close = %v on a %d", close, tt.status)
			}
			// Whatever went in, the document parses.
			var doc struct {
				Code, Message string
				RequestID     string `xml:"RequestId"`
				HostID        string `xml:"HostId"`
			}
			if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc.Code != tt.err.Code || doc.RequestID != testIDs.RequestID ||
				doc.HostID != testIDs.HostID {
				t.Errorf("unmarshal: %v %+v", err, doc)
			}
		})
	}
}

func TestNewIDs(t *testing.T) {
	requestID := regexp.MustCompile(`^[A-Z0-9]{16}$`)
	seen := make(map[string]bool)
	for range 1000 {
		ids := NewIDs()
		if !requestID.MatchString(ids.RequestID) {
			t.Fatalf("request ID %q is not 16 upper-case alphanumerics", ids.RequestID)
		}
		raw, err := base64.StdEncoding.DecodeString(ids.HostID)
		if err != nil || len(raw) != 56 || len(ids.HostID) != 76 {
			t.Fatalf("host ID %q: %v, %d bytes", ids.HostID, err, len(raw))
		}
		if seen[ids.RequestID] || seen[ids.HostID] {
			t.Fatalf("IDs repeat after %d draws", len(seen)/2)
		}
		seen[ids.RequestID], seen[ids.HostID] = true, true
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = NewIDs() }); allocs > 1 {
		t.Errorf("NewIDs allocates %v times, want at most 1", allocs)
	}
}

func TestIDsSetUsesS3Case(t *testing.T) {
	h := http.Header{"X-Amz-Request-Id": {"UPSTREAM"}, "X-Amz-Id-2": {"upstream"}}
	testIDs.Set(h)
	if len(h) != 2 {
		t.Errorf("the upstream's IDs are still there: %v", h)
	}
	var b strings.Builder
	_ = h.Write(&b)
	if !strings.Contains(b.String(), "x-amz-request-id: Z4ERRATSVNEC7WS7\r\n") || !strings.Contains(b.String(), "x-amz-id-2: vs0X+abc/def=\r\n") {
		t.Errorf("headers written as %q", b.String())
	}
}
