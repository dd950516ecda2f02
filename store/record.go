package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/s3cors/caddy-s3-cors/s3"
)

// Record is one version of a bucket's stored CORS configuration. It is kept
// in storage as JSON: under <prefix>/buckets/<bucket>.json for the version
// in force, <prefix>/candidates/<bucket>.json for a candidate on trial, and
// in the bucket's history for earlier versions.
type Record struct {
	// Bucket is the bucket the configuration belongs to.
	Bucket string `json:"bucket"`
	// Document is the CORSConfiguration XML in canonical form, as
	// GetBucketCors returns it.
	Document string `json:"document"`
	// Version identifies the write that produced the record. Every Put
	// draws a new random one, so instances can tell which of several
	// concurrent writes storage kept.
	Version string `json:"version"`
	// UpdatedAt is when the write happened by the writer's clock. It is
	// for people; the store never orders writes by it.
	UpdatedAt time.Time `json:"updated_at"`
	// UpdatedBy is who made the change: an access key ID, or "admin".
	UpdatedBy string `json:"updated_by,omitempty"`
}

func (r Record) same(o Record) bool {
	return r.Bucket == o.Bucket && r.Document == o.Document && r.Version == o.Version &&
		r.UpdatedBy == o.UpdatedBy && r.UpdatedAt.Equal(o.UpdatedAt)
}

// recordFormat versions the JSON layout, so a build meeting a record
// written by a newer one skips it instead of misreading it.
const recordFormat = 1

type storedRecord struct {
	Format int `json:"format"`
	Record
}

func encodeRecord(r Record) ([]byte, error) {
	return json.MarshalIndent(storedRecord{Format: recordFormat, Record: r}, "", "\t")
}

// decodeRecord reads the record stored for bucket. Its errors explain why
// the record cannot be used.
func decodeRecord(bucket string, data []byte) (Record, error) {
	var sr storedRecord
	if err := json.Unmarshal(data, &sr); err != nil {
		return Record{}, fmt.Errorf("not a CORS configuration record: %v", err)
	}
	if sr.Format != recordFormat {
		return Record{}, fmt.Errorf("record format %d is not readable by this version (it reads format %d); upgrade this instance or rewrite the configuration", sr.Format, recordFormat)
	}
	if sr.Bucket != bucket {
		return Record{}, fmt.Errorf("record names bucket %q but is stored under bucket %q", sr.Bucket, bucket)
	}
	return sr.Record, nil
}

// ErrInvalidBucket is wrapped by the errors of Put and Delete for a name
// that S3 would refuse as a bucket name (s3.ValidBucketName), which also
// keeps every bucket a safe storage key segment.
var ErrInvalidBucket = errors.New("invalid bucket name")

func invalidBucket(name string) error {
	return fmt.Errorf("%w %q: S3 bucket names are 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit", ErrInvalidBucket, name)
}

func (s *Store) recordKey(bucket string) string {
	return s.bucketsDir + "/" + bucket + ".json"
}

// bucketOfKey returns the bucket a key listed under dir holds the record
// of. Temporary files of atomic writers, subdirectories and other foreign
// keys give false; foreign reports whether the key is worth a warning.
func bucketOfKey(dir, key string) (bucket string, ok, foreign bool) {
	name, found := strings.CutPrefix(key, dir+"/")
	if !found || name == "" || strings.Contains(name, "/") {
		return "", false, true
	}
	bucket, found = strings.CutSuffix(name, ".json")
	if !found {
		// The file system storage writes through a temporary file named
		// by digits in the same directory, which a List may catch.
		return "", false, strings.Trim(name, "0123456789") != ""
	}
	if !s3.ValidBucketName(bucket) {
		return "", false, true
	}
	return bucket, true, false
}

// newID returns a random identifier for a write.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails, per crypto/rand's contract
	return hex.EncodeToString(b[:])
}
