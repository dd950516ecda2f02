package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// This file reads the import format, NDJSON: one JSON object a line,
// {"bucket": ..., "cors_xml": ...}. The command checks a whole file with it
// before it sends anything, and the import route checks every request
// again, so that the API refuses what the command would.

// ndjsonType is the media type of an import file sent to the import route.
const ndjsonType = "application/x-ndjson"

// importEntry is a valid line of an import file.
type importEntry struct {
	line int // from 1
	// start and end are where the line is in the input, its newline
	// included, so that the lines of a batch are sent as they were read.
	start, end int
	item       store.Item
}

// lineError says why one line of an import file cannot be imported.
type lineError struct {
	line int
	text string
}

func (e lineError) String() string { return fmt.Sprintf("line %d: %s", e.line, e.text) }

// parseImport checks every line of an import file: the line is a JSON
// object with exactly a bucket and a cors_xml, the bucket's name follows
// S3's rules, the document passes S3's PutBucketCors validation, and no
// bucket is named twice. Blank lines are skipped. It returns the valid
// lines and, for every other line, why it is not.
func parseImport(data []byte) ([]importEntry, []lineError) {
	var (
		entries []importEntry
		bad     []lineError
		first   = make(map[string]int)
	)
	for n, start := 1, 0; start < len(data); n++ {
		end := len(data)
		if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
			end = start + i + 1
		}
		line := bytes.TrimSpace(data[start:end])
		at := start
		start = end
		if len(line) == 0 {
			continue
		}
		cfg, bucket, text := parseImportLine(line)
		if text == "" {
			if prev, dup := first[bucket]; dup {
				text = fmt.Sprintf("bucket %q is on line %d too: name each bucket once", bucket, prev)
			} else {
				first[bucket] = n
			}
		}
		if text != "" {
			bad = append(bad, lineError{line: n, text: text})
			continue
		}
		entries = append(entries, importEntry{line: n, start: at, end: end, item: store.Item{Bucket: bucket, Config: cfg}})
	}
	return entries, bad
}

// parseImportLine reads one line; text says what is wrong with it, with
// S3's code and message where PutBucketCors would answer one.
func parseImportLine(line []byte) (cfg *cors.Configuration, bucket, text string) {
	// A line is a bucket and its CORSConfiguration XML, as a PutBucketCors
	// body. The fields are pointers to tell a missing one from an empty one.
	var l struct {
		Bucket  *string `json:"bucket"`
		CORSXML *string `json:"cors_xml"`
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	err := dec.Decode(&l)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value on the line")
	}
	const notAnObject = `not a JSON object {"bucket": ..., "cors_xml": ...}`
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		// Its text names Go types, which say nothing to the file's author.
		if te.Field == "" {
			return nil, "", notAnObject
		}
		return nil, "", fmt.Sprintf("%s: %q must be a string", notAnObject, te.Field)
	}
	switch {
	case err != nil:
		return nil, "", notAnObject + ": " + strings.TrimPrefix(err.Error(), "json: ")
	case l.Bucket == nil:
		return nil, "", `no "bucket"`
	case l.CORSXML == nil:
		return nil, "", fmt.Sprintf(`bucket %q: no "cors_xml"`, *l.Bucket)
	case !s3.ValidBucketName(*l.Bucket):
		return nil, "", fmt.Sprintf("bucket %q: %s", *l.Bucket, s3.ErrInvalidBucketName(*l.Bucket))
	}
	cfg, err = cors.Parse([]byte(*l.CORSXML))
	if err != nil {
		return nil, "", fmt.Sprintf("bucket %q: cors_xml: %s", *l.Bucket, caddymodule.DescribeParseError(err))
	}
	return cfg, *l.Bucket, ""
}
