package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// journalOf builds a valid marker whose journal holds seqs from..to.
func journalOf(from, to uint64) marker {
	var m marker
	for seq := from; seq <= to; seq++ {
		m.Journal = append(m.Journal, change{Seq: seq, Token: fmt.Sprintf("t%d", seq), Bucket: fmt.Sprintf("bkt%d", seq)})
	}
	m.Format = markerFormat
	m.Seq = to
	if len(m.Journal) > 0 {
		m.token = m.Journal[len(m.Journal)-1].Token
	}
	return m
}

func TestParseMarker(t *testing.T) {
	valid := journalOf(5, 7)
	tests := []struct {
		name    string
		edit    func(m *marker)
		raw     string
		wantErr string
	}{
		{name: "valid"},
		{name: "not json", raw: "{", wantErr: "unexpected end"},
		{name: "newer format", edit: func(m *marker) { m.Format = 2 }, wantErr: "format 2"},
		{name: "no journal", edit: func(m *marker) { m.Journal = nil }, wantErr: "no journal"},
		{name: "zero sequence", edit: func(m *marker) { m.Seq = 0 }, wantErr: "no journal"},
		{name: "journal longer than sequence", edit: func(m *marker) { m.Seq = 2 }, wantErr: "longer"},
		{name: "gap", edit: func(m *marker) { m.Journal[1].Seq = 9 }, wantErr: "entry 1"},
		{name: "last entry is not the sequence", edit: func(m *marker) { m.Seq = 8 }, wantErr: "entry 0"},
		{name: "empty token", edit: func(m *marker) { m.Journal[2].Token = "" }, wantErr: "entry 2"},
		{name: "bad bucket", edit: func(m *marker) { m.Journal[0].Bucket = "../x" }, wantErr: "entry 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				m := valid
				m.Journal = slices.Clone(valid.Journal)
				if tt.edit != nil {
					tt.edit(&m)
				}
				var err error
				if data, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			got, err := parseMarker(data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseMarker error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Seq != 7 || got.token != "t7" || len(got.Journal) != 3 {
				t.Fatalf("parseMarker = %+v", got)
			}
		})
	}
}

func TestMarkerSince(t *testing.T) {
	m := journalOf(5, 8)
	tests := []struct {
		name      string
		m         marker
		seq       uint64
		token     string
		wantSeqs  []uint64
		wantTrust bool
	}{
		{"one behind", m, 7, "t7", []uint64{8}, true},
		{"at the oldest entry", m, 5, "t5", []uint64{6, 7, 8}, true},
		{"before the oldest entry", m, 4, "t4", nil, false},
		{"seen entry overwritten", m, 6, "other", nil, false},
		{"up to date is not a change", m, 8, "t8", nil, false},
		{"ahead of the marker", m, 9, "t9", nil, false},
		{"no marker seen, journal from the start", journalOf(1, 3), 0, "", []uint64{1, 2, 3}, true},
		{"unreadable marker seen, journal from the start", journalOf(1, 2), 0, "unreadable-ab", []uint64{1, 2}, true},
		{"no marker seen, journal trimmed", m, 0, "", nil, false},
		{"unreadable marker now", marker{invalid: fmt.Errorf("bad"), token: "unreadable-x"}, 3, "t3", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes, ok := tt.m.since(tt.seq, tt.token)
			if ok != tt.wantTrust {
				t.Fatalf("since trusted = %v, want %v", ok, tt.wantTrust)
			}
			if !ok {
				return
			}
			var seqs []uint64
			for _, c := range changes {
				seqs = append(seqs, c.Seq)
			}
			if !slices.Equal(seqs, tt.wantSeqs) {
				t.Fatalf("since = %v, want %v", seqs, tt.wantSeqs)
			}
		})
	}
}

func TestMarkerAppended(t *testing.T) {
	tests := []struct {
		name     string
		m        marker
		size     int
		wantSeqs []uint64
	}{
		{"first change", marker{}, 4, []uint64{1}},
		{"first change after an unreadable marker", marker{token: "unreadable-x"}, 4, []uint64{1}},
		{"room left", journalOf(1, 2), 4, []uint64{1, 2, 3}},
		{"full", journalOf(1, 4), 4, []uint64{2, 3, 4, 5}},
		{"shrunk journal size", journalOf(1, 6), 2, []uint64{6, 7}},
		{"size one", journalOf(3, 5), 1, []uint64{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.m.Journal)
			got := tt.m.appended([]change{{Token: "new", Bucket: "photos", By: "AKID"}}, tt.size)
			var seqs []uint64
			for _, c := range got.Journal {
				seqs = append(seqs, c.Seq)
			}
			if !slices.Equal(seqs, tt.wantSeqs) {
				t.Fatalf("journal seqs = %v, want %v", seqs, tt.wantSeqs)
			}
			last := got.Journal[len(got.Journal)-1]
			if got.Seq != last.Seq || got.token != "new" || last.Bucket != "photos" || last.By != "AKID" {
				t.Fatalf("appended = %+v", got)
			}
			if !got.has(last) {
				t.Fatal("appended marker does not have its own entry")
			}
			if !slices.Equal(tt.m.Journal, before) {
				t.Fatal("appended changed the original journal")
			}
			data, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parseMarker(data); err != nil {
				t.Fatalf("appended marker does not parse: %v", err)
			}
		})
	}
}

func TestMarkerHas(t *testing.T) {
	m := journalOf(3, 5)
	tests := []struct {
		c    change
		want bool
	}{
		{change{Seq: 4, Token: "t4"}, true},
		{change{Seq: 4, Token: "other"}, false},
		{change{Seq: 2, Token: "t2"}, false},
		{change{Seq: 6, Token: "t6"}, false},
	}
	for _, tt := range tests {
		if got := m.has(tt.c); got != tt.want {
			t.Errorf("has(%+v) = %v, want %v", tt.c, got, tt.want)
		}
	}
}

func TestDecodeRecord(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	rec := Record{Bucket: "photos", Document: "<x/>", Version: "v1", UpdatedAt: at, UpdatedBy: "AKID"}
	data, err := encodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		bucket  string
		data    string
		want    Record
		wantErr string
	}{
		{name: "round trip", bucket: "photos", data: string(data), want: rec},
		{name: "stored under another bucket", bucket: "assets", data: string(data), wantErr: `names bucket "photos"`},
		{name: "no format", bucket: "photos", data: `{"bucket":"photos"}`, wantErr: "format 0"},
		{name: "newer format", bucket: "photos", data: `{"format":2,"bucket":"photos"}`, wantErr: "format 2"},
		{name: "not json", bucket: "photos", data: `<CORSConfiguration/>`, wantErr: "not a CORS configuration record"},
		{name: "unknown fields are ignored", bucket: "photos", data: `{"format":1,"bucket":"photos","document":"<x/>","extra":true}`,
			want: Record{Bucket: "photos", Document: "<x/>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord(tt.bucket, []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.same(tt.want) {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
	// The stored form is documented JSON that operators read and export.
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "bucket", "document", "version", "updated_at", "updated_by"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("stored record lacks %q: %s", k, data)
		}
	}
}

func TestBucketOfKey(t *testing.T) {
	s := New(newMemStorage(), Options{})
	tests := []struct {
		key     string
		bucket  string
		foreign bool
	}{
		{"s3_cors/buckets/photos.json", "photos", false},
		{"s3_cors/buckets/my.bucket-1.json", "my.bucket-1", false},
		{"s3_cors/buckets/Photos.json", "", true},
		{"s3_cors/buckets/.json", "", true},
		{"s3_cors/buckets/notes.txt", "", true},
		{"s3_cors/buckets/sub", "", true},
		{"s3_cors/buckets/sub/photos.json", "", true},
		{"s3_cors/marker.json", "", true},
		{"s3_cors/buckets/4094361931", "", false},
	}
	for _, tt := range tests {
		bucket, ok, foreign := s.bucketOfKey(tt.key)
		if bucket != tt.bucket || ok != (tt.bucket != "") || foreign != tt.foreign {
			t.Errorf("bucketOfKey(%q) = %q, %v, %v; want %q, foreign=%v", tt.key, bucket, ok, foreign, tt.bucket, tt.foreign)
		}
	}
}
