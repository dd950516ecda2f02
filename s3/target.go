package s3

import (
	"net"
	"net/http"
	"strings"
)

// Target is the bucket and key a request addresses. The zero Target is the
// service endpoint (ListBuckets `GET /`).
type Target struct{ Bucket, Key string }

// ResolveTarget finds the bucket and key of r. When the Host (without its
// port, compared case-insensitively) is <bucket>.<suffix> for one of
// suffixes, the request is virtual-hosted: the bucket is the part before the
// suffix and the whole path is the key. Otherwise it is path-style: the first
// path segment is the bucket and the rest of the path the key. When several
// suffixes match, the longest wins, so "s3.example.com" is preferred over
// "example.com" for "b.s3.example.com", and a Host that is itself a suffix is
// path-style.
//
// Key is the unescaped path after the bucket, without its leading slash; it
// is "" at the bucket root, also for a trailing slash (`/bucket/`) since S3
// keys are never empty. Double slashes are kept: `/b//k` is key "/k".
func ResolveTarget(r *http.Request, suffixes []string) Target {
	path := r.URL.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" // `OPTIONS *` and an empty path name no bucket or key
	}
	if bucket := virtualHostBucket(r.Host, suffixes); bucket != "" {
		return Target{Bucket: bucket, Key: strings.TrimPrefix(path, "/")}
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	if bucket == "" {
		return Target{}
	}
	return Target{Bucket: bucket, Key: key}
}

// virtualHostBucket returns the bucket label of host for the longest of
// suffixes it ends with, or "" when host is not a virtual host of any.
func virtualHostBucket(host string, suffixes []string) string {
	if len(suffixes) == 0 || host == "" {
		return ""
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	bucket, longest := "", 0
	for _, suffix := range suffixes {
		suffix = strings.TrimSuffix(strings.TrimPrefix(suffix, "."), ".")
		if suffix == "" || len(suffix) <= longest || len(host) < len(suffix) {
			continue
		}
		cut := len(host) - len(suffix)
		switch {
		case cut == 0 && strings.EqualFold(host, suffix):
			// The endpoint itself: path-style, even if a shorter suffix
			// would make its first label a bucket.
			bucket, longest = "", len(suffix)
		case cut >= 2 && host[cut-1] == '.' && strings.EqualFold(host[cut:], suffix):
			bucket, longest = host[:cut-1], len(suffix)
		}
	}
	// Host names are case-insensitive and S3 bucket names lower case.
	return strings.ToLower(bucket)
}

// ValidBucketName reports whether name follows S3's naming rules for general
// purpose buckets (S3 User Guide, "Bucket naming rules"): 3 to 63 lower-case
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit, no two adjacent dots, not an IPv4 address, and none of the prefixes
// and suffixes S3 reserves.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(name)-1:
		case c == '.' && i > 0 && i < len(name)-1 && name[i-1] != '.':
		default:
			return false
		}
	}
	if ip := net.ParseIP(name); ip != nil {
		return false
	}
	for _, prefix := range reservedBucketPrefixes {
		if strings.HasPrefix(name, prefix) {
			return false
		}
	}
	for _, suffix := range reservedBucketSuffixes {
		if strings.HasSuffix(name, suffix) {
			return false
		}
	}
	return true
}

var (
	reservedBucketPrefixes = []string{"xn--", "sthree-", "amzn-s3-demo-"}
	reservedBucketSuffixes = []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}
)
