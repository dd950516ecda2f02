package s3

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// checkData is the catalogue's check input; the values below are the
// published check values of each algorithm for it (CRC-64/NVME as in the
// NVMe specification), base64 of the big-endian digest as S3 wants them.
const checkData = "123456789"

func b64hex(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

var checkValues = map[string]string{
	"X-Amz-Checksum-Crc32":     b64hex("cbf43926"),
	"X-Amz-Checksum-Crc32c":    b64hex("e3069283"),
	"X-Amz-Checksum-Crc64nvme": b64hex("ae8b14860a799888"),
	"X-Amz-Checksum-Sha1":      b64hex("f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
	"X-Amz-Checksum-Sha256":    b64hex("15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"),
}

const checkMD5 = "JfnnlDI7RTiF9RgfG2JNCw==" // 25f9e794323b453885f5181f1b624d0b

type integrityCase struct {
	name   string
	header map[string]string
	want   *errorWant
}

func TestCheckIntegrity(t *testing.T) {
	type h = map[string]string
	const emptyMD5 = "1B2M2Y8AsgTpgAmY7PhCfg==" // of the empty string
	tests := []integrityCase{
		{"Content-MD5", h{"Content-Md5": checkMD5}, nil},
		{"Content-MD5 and a checksum, both right", h{"Content-Md5": checkMD5, "X-Amz-Checksum-Crc32": checkValues["X-Amz-Checksum-Crc32"]}, nil},
		{"an algorithm header next to another checksum is ignored",
			h{"X-Amz-Sdk-Checksum-Algorithm": "SHA256", "X-Amz-Checksum-Crc32": checkValues["X-Amz-Checksum-Crc32"]}, nil},
		{"x-amz-checksum-type is no checksum", h{"X-Amz-Checksum-Type": "FULL_OBJECT", "Content-Md5": checkMD5}, nil},

		{"nothing", h{}, &errorWant{400, "InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*", nil}},
		{"only x-amz-checksum-type", h{"X-Amz-Checksum-Type": "FULL_OBJECT"},
			&errorWant{400, "InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*", nil}},
		{"Content-MD5 of other content", h{"Content-Md5": emptyMD5},
			&errorWant{400, "BadDigest", "The Content-MD5 you specified did not match what we received.",
				map[string]string{"ExpectedDigest": "d41d8cd98f00b204e9800998ecf8427e", "CalculatedDigest": checkMD5}}},
		{"Content-MD5 not base64", h{"Content-Md5": "not base64!"},
			&errorWant{400, "InvalidDigest", "The Content-MD5 you specified was invalid.", map[string]string{"Content-MD5": "not base64!"}}},
		{"Content-MD5 of 11 bytes", h{"Content-Md5": "YWJyYWNhZGFicmE="},
			&errorWant{400, "InvalidDigest", "The Content-MD5 you specified was invalid.", map[string]string{"Content-MD5": "YWJyYWNhZGFicmE="}}},
		{"Content-MD5 in hex", h{"Content-Md5": "25f9e794323b453885f5181f1b624d0b"},
			&errorWant{400, "InvalidDigest", "The Content-MD5 you specified was invalid.", nil}},
		{"empty Content-MD5", h{"Content-Md5": ""},
			&errorWant{400, "InvalidDigest", "The Content-MD5 you specified was invalid.", map[string]string{"Content-MD5": ""}}},
		{"two checksums", h{"X-Amz-Checksum-Crc32": checkValues["X-Amz-Checksum-Crc32"], "X-Amz-Checksum-Crc32c": checkValues["X-Amz-Checksum-Crc32c"]},
			&errorWant{400, "InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.", nil}},
		{"an algorithm and no checksum", h{"X-Amz-Sdk-Checksum-Algorithm": "CRC32"},
			&errorWant{400, "InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.", nil}},
		{"an algorithm and only Content-MD5", h{"X-Amz-Sdk-Checksum-Algorithm": "crc32", "Content-Md5": checkMD5},
			&errorWant{400, "InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.", nil}},
		{"an unknown algorithm and no checksum", h{"X-Amz-Sdk-Checksum-Algorithm": "MD4"},
			&errorWant{400, "InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]", nil}},
		{"a trailer", h{"X-Amz-Trailer": "x-amz-checksum-crc32"},
			&errorWant{501, "NotImplemented", "A header you provided implies functionality that is not implemented", map[string]string{"Header": "x-amz-trailer"}}},
		{"right Content-MD5, wrong checksum", h{"Content-Md5": checkMD5, "X-Amz-Checksum-Sha1": b64hex(strings.Repeat("01", 20))},
			&errorWant{400, "BadDigest", "The SHA1 you specified did not match the calculated checksum.", nil}},
		{"wrong Content-MD5, right checksum", h{"Content-Md5": emptyMD5, "X-Amz-Checksum-Sha1": checkValues["X-Amz-Checksum-Sha1"]},
			&errorWant{400, "BadDigest", "The Content-MD5 you specified did not match what we received.", nil}},
	}
	for _, a := range checksumAlgorithms {
		right := checkValues[a.header]
		lower := strings.ToLower(a.header)
		invalid := &errorWant{400, "InvalidRequest", "Value for " + lower + " header is invalid.", nil}
		wrongBytes := make([]byte, a.size)
		for i := range wrongBytes {
			wrongBytes[i] = 1
		}
		rightHex := hex.EncodeToString(mustB64(right))
		tests = append(tests,
			integrityCase{a.name + " right", h{a.header: right}, nil},
			integrityCase{a.name + " of other content", h{a.header: base64.StdEncoding.EncodeToString(wrongBytes)},
				&errorWant{400, "BadDigest", "The " + a.name + " you specified did not match the calculated checksum.", nil}},
			integrityCase{a.name + " in hex", h{a.header: rightHex}, invalid},
			integrityCase{a.name + " without padding", h{a.header: strings.TrimRight(right, "=")}, invalidUnlessUnpadded(right, invalid)},
			integrityCase{a.name + " of another length", h{a.header: base64.StdEncoding.EncodeToString(append(mustB64(right), 0))}, invalid},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header{}
			for k, v := range tt.header {
				header.Set(k, v)
			}
			checkError(t, CheckIntegrity(header, []byte(checkData)), tt.want)
		})
	}
}

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// invalidUnlessUnpadded: a value whose base64 needs no padding is the same
// value without it.
func invalidUnlessUnpadded(v string, invalid *errorWant) *errorWant {
	if !strings.HasSuffix(v, "=") {
		return nil
	}
	return invalid
}

// TestChecksumsMatchTheSDK compares each checksum this package computes with
// the value aws-sdk-go-v2 puts in the header for the same body.
func TestChecksumsMatchTheSDK(t *testing.T) {
	g := newGateway(t) // only for its client options; the request never leaves
	for _, a := range checksumAlgorithms {
		t.Run(a.name, func(t *testing.T) {
			var header http.Header
			var body []byte
			c := g.sdkClient(testAccessKey, testSecret, testRegion, func(o *awss3.Options) {
				o.HTTPClient = doerFunc(func(r *http.Request) (*http.Response, error) {
					header = r.Header.Clone()
					body, _ = io.ReadAll(r.Body)
					return nil, errors.New("captured")
				})
			})
			in := corsInput("bucket")
			in.ChecksumAlgorithm = types.ChecksumAlgorithm(a.name)
			_, _ = c.PutBucketCors(context.Background(), in)
			sent := header.Get(a.header)
			if sent == "" || len(body) == 0 {
				t.Fatalf("the SDK sent no %s: %v", a.header, header)
			}
			if got := base64.StdEncoding.EncodeToString(a.sum(body)); got != sent {
				t.Errorf("%s = %s, the SDK computed %s", a.name, got, sent)
			}
		})
	}
}

func TestCheckExpectedBucketOwner(t *testing.T) {
	invalid := func(v string) *errorWant {
		return &errorWant{400, "InvalidBucketOwnerAWSAccountID",
			"The value of the expected bucket owner parameter must be an AWS Account ID... [" + v + "]", nil}
	}
	denied := &errorWant{403, "AccessDenied", "Access Denied", nil}
	tests := []struct {
		name, owner string
		value       *string
		want        *errorWant
	}{
		{"no header, owner configured", "111122223333", nil, nil},
		{"no header, no owner", "", nil, nil},
		{"the owner", "111122223333", ptr("111122223333"), nil},
		{"another account", "111122223333", ptr("444455556666"), denied},
		{"no owner configured", "", ptr("111122223333"), denied},
		{"four digits", "111122223333", ptr("0000"), invalid("0000")},
		{"letters", "", ptr("abcd"), invalid("abcd")},
		{"a dollar", "111122223333", ptr("aa000000000$"), invalid("aa000000000$")},
		{"13 digits", "111122223333", ptr("1111222233334"), invalid("1111222233334")},
		{"empty", "111122223333", ptr(""), invalid("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header{}
			if tt.value != nil {
				header.Set("X-Amz-Expected-Bucket-Owner", *tt.value)
			}
			checkError(t, CheckExpectedBucketOwner(header, tt.owner), tt.want)
		})
	}
}

func ptr(s string) *string { return &s }
