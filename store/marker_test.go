package store

import (
	"encoding/json"
	"fmt"
	"reflect"
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
		{name: "newer format", edit: func(m *marker) { m.Format = 3 }, wantErr: "format 3"},
		{name: "no journal", edit: func(m *marker) { m.Journal = nil }, wantErr: "no journal"},
		{name: "zero sequence", edit: func(m *marker) { m.Seq = 0 }, wantErr: "no journal"},
		{name: "journal longer than sequence", edit: func(m *marker) { m.Seq = 2 }, wantErr: "longer"},
		{name: "gap", edit: func(m *marker) { m.Journal[1].Seq = 9 }, wantErr: "entry 1"},
		{name: "last entry is not the sequence", edit: func(m *marker) { m.Seq = 8 }, wantErr: "entry 0"},
		{name: "empty token", edit: func(m *marker) { m.Journal[2].Token = "" }, wantErr: "entry 2"},
		{name: "bad bucket", edit: func(m *marker) { m.Journal[0].Bucket = "../x" }, wantErr: "entry 0"},
		{name: "token not a key segment", edit: func(m *marker) { m.Journal[1].Token = "../x" }, wantErr: "entry 1"},
		{name: "batch", edit: func(m *marker) { m.Journal[1] = change{Seq: 6, Token: "t6", Batch: "b6", Count: 2} }},
		{name: "batch with a bucket", edit: func(m *marker) { m.Journal[1] = change{Seq: 6, Token: "t6", Bucket: "photos", Batch: "b6", Count: 2} }, wantErr: "entry 1"},
		{name: "batch without a count", edit: func(m *marker) { m.Journal[1] = change{Seq: 6, Token: "t6", Batch: "b6"} }, wantErr: "entry 1"},
		{name: "format 1", edit: func(m *marker) { m.Format = 1 }},
		{name: "segments", edit: func(m *marker) { *m = withSegments(*m, [2]uint64{1, 2}, [2]uint64{3, 4}) }},
		{name: "segment gap", edit: func(m *marker) { *m = withSegments(*m, [2]uint64{1, 2}, [2]uint64{3, 3}) }, wantErr: "segment 1"},
		{name: "segment token not a key segment", edit: func(m *marker) { *m = withSegments(*m, [2]uint64{1, 4}); m.Segments[0].Token = "a/b" }, wantErr: "segment 0"},
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

// withSegments adds segments of the given (first, last) ranges before m's
// journal.
func withSegments(m marker, ranges ...[2]uint64) marker {
	for i, r := range ranges {
		m.Segments = append(m.Segments, segment{First: r[0], Last: r[1], Token: fmt.Sprintf("g%d", i)})
	}
	return m
}

// appendedTo is m with changes appended, in a journal of 8.
func appendedTo(m marker, changes []change) marker {
	next, _ := m.appended(changes, 8)
	return next
}

func seqsOf(changes []change) []uint64 {
	var seqs []uint64
	for _, c := range changes {
		seqs = append(seqs, c.Seq)
	}
	return seqs
}

func firstsOf(segments []segment) []uint64 {
	var firsts []uint64
	for _, g := range segments {
		firsts = append(firsts, g.First)
	}
	return firsts
}

func TestMarkerCatchUp(t *testing.T) {
	m := journalOf(5, 8)
	segmented := withSegments(journalOf(9, 10), [2]uint64{1, 4}, [2]uint64{5, 8})
	tests := []struct {
		name         string
		m            marker
		seq          uint64
		token        string
		wantSegments []uint64 // first sequence of each segment to read
		wantInline   []uint64
		wantOK       bool
	}{
		{"one behind", m, 7, "t7", nil, []uint64{8}, true},
		{"at the oldest entry", m, 5, "t5", nil, []uint64{6, 7, 8}, true},
		{"before the oldest entry", m, 4, "t4", nil, nil, false},
		{"seen entry overwritten", m, 6, "other", nil, nil, false},
		{"up to date is not a change", m, 8, "t8", nil, nil, false},
		{"ahead of the marker", m, 9, "t9", nil, nil, false},
		{"no marker seen, journal from the start", journalOf(1, 3), 0, "", nil, []uint64{1, 2, 3}, true},
		{"unreadable marker seen, journal from the start", journalOf(1, 2), 0, "unreadable-ab", nil, []uint64{1, 2}, true},
		{"no marker seen, journal trimmed", m, 0, "", nil, nil, false},
		{"unreadable marker now", marker{invalid: fmt.Errorf("bad"), token: "unreadable-x"}, 3, "t3", nil, nil, false},
		{"seen entry in the newest segment", segmented, 6, "t6", []uint64{5}, []uint64{9, 10}, true},
		{"seen entry in the oldest segment", segmented, 1, "t1", []uint64{1, 5}, []uint64{9, 10}, true},
		{"seen entry the last of a segment", segmented, 8, "t8", []uint64{5}, []uint64{9, 10}, true},
		{"seen entry inline, segments not read", segmented, 9, "t9", nil, []uint64{10}, true},
		{"no marker seen, segments from the start", segmented, 0, "", []uint64{1, 5}, []uint64{9, 10}, true},
		{"before the oldest segment", withSegments(journalOf(9, 10), [2]uint64{5, 8}), 3, "t3", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segments, inline, ok := tt.m.catchUp(tt.seq, tt.token)
			if ok != tt.wantOK {
				t.Fatalf("catchUp ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if got := firstsOf(segments); !slices.Equal(got, tt.wantSegments) {
				t.Fatalf("segments to read start at %v, want %v", got, tt.wantSegments)
			}
			if got := seqsOf(inline); !slices.Equal(got, tt.wantInline) {
				t.Fatalf("inline entries %v, want %v", got, tt.wantInline)
			}
		})
	}
}

func TestMarkerAppended(t *testing.T) {
	withBatch := journalOf(1, 4)
	withBatch.Journal[0].Bucket, withBatch.Journal[0].Batch, withBatch.Journal[0].Count = "", "b1", 3
	full := journalOf(1, journalInline)
	tests := []struct {
		name           string
		m              marker
		size           int
		add            int
		wantJournal    []uint64 // first and last sequence of the journal
		wantSegments   [][2]uint64
		wantAdded      []uint64 // first and last of the segment to store
		wantDropped    []uint64 // first sequence of each dropped segment
		droppedBatches []string
	}{
		{name: "first change", m: marker{}, size: 4, add: 1, wantJournal: []uint64{1, 1}},
		{name: "first change after an unreadable marker", m: marker{token: "unreadable-x"}, size: 4, add: 1, wantJournal: []uint64{1, 1}},
		{name: "room left", m: journalOf(1, 2), size: 4, add: 1, wantJournal: []uint64{1, 3}},
		{name: "full", m: journalOf(1, 4), size: 4, add: 1, wantJournal: []uint64{2, 5}},
		{name: "shrunk journal size", m: journalOf(1, 6), size: 2, add: 1, wantJournal: []uint64{6, 7}},
		{name: "size one", m: journalOf(3, 5), size: 1, add: 1, wantJournal: []uint64{6, 6}},
		{name: "more new changes than the size", m: journalOf(1, 4), size: 2, add: 3, wantJournal: []uint64{5, 7}},
		{name: "a batch falls off", m: withBatch, size: 4, add: 1, wantJournal: []uint64{2, 5}, droppedBatches: []string{"b1"}},
		{name: "segments dropped when the size shrinks", m: withSegments(journalOf(9, 10), [2]uint64{1, 8}), size: 4, add: 1,
			wantJournal: []uint64{9, 11}, wantDropped: []uint64{1}},
		{name: "room in the inline journal", m: journalOf(1, journalInline-1), size: 1000, add: 1, wantJournal: []uint64{1, journalInline}},
		{name: "inline journal rolls into a segment", m: full, size: 1000, add: 1,
			wantJournal: []uint64{journalInline + 1, journalInline + 1}, wantSegments: [][2]uint64{{1, journalInline}}, wantAdded: []uint64{1, journalInline}},
		{name: "oldest segment dropped past the size", m: withSegments(journalOf(129, 192), [2]uint64{1, 64}, [2]uint64{65, 128}), size: 120, add: 1,
			wantJournal: []uint64{193, 193}, wantSegments: [][2]uint64{{65, 128}, {129, 192}}, wantAdded: []uint64{129, 192}, wantDropped: []uint64{1}},
		{name: "a big batch of new changes stays inline", m: journalOf(1, 3), size: 1000, add: journalInline + 5,
			wantJournal: []uint64{4, journalInline + 8}, wantSegments: [][2]uint64{{1, 3}}, wantAdded: []uint64{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.m.Journal)
			var add []change
			for i := range tt.add {
				add = append(add, change{Token: fmt.Sprintf("new%d", i), Bucket: "photos", By: "AKID"})
			}
			got, roll := tt.m.appended(add, tt.size)
			if j := got.Journal; j[0].Seq != tt.wantJournal[0] || j[len(j)-1].Seq != tt.wantJournal[1] {
				t.Fatalf("journal %v, want %v", seqsOf(j), tt.wantJournal)
			}
			var segs [][2]uint64
			for _, g := range got.Segments {
				segs = append(segs, [2]uint64{g.First, g.Last})
			}
			if !slices.Equal(segs, tt.wantSegments) {
				t.Fatalf("segments %v, want %v", segs, tt.wantSegments)
			}
			switch {
			case tt.wantAdded == nil && roll.added != nil:
				t.Fatalf("a segment %+v to store, want none", roll.added)
			case tt.wantAdded != nil && (roll.added == nil || roll.added.First != tt.wantAdded[0] || roll.added.Last != tt.wantAdded[1] ||
				!slices.Equal(seqsOf(roll.entries), seqsOf(tt.m.Journal))):
				t.Fatalf("segment to store %+v with %v, want %v holding the previous journal", roll.added, seqsOf(roll.entries), tt.wantAdded)
			}
			if got := firstsOf(roll.dropped); !slices.Equal(got, tt.wantDropped) {
				t.Fatalf("dropped segments %v, want %v", got, tt.wantDropped)
			}
			if !slices.Equal(roll.droppedBatches, tt.droppedBatches) {
				t.Fatalf("dropped batches %v, want %v", roll.droppedBatches, tt.droppedBatches)
			}
			last := got.Journal[len(got.Journal)-1]
			if got.Seq != last.Seq || got.token != last.Token || last.Bucket != "photos" || last.By != "AKID" {
				t.Fatalf("appended = %+v", got)
			}
			if !got.hasAll(add) {
				t.Fatal("appended marker does not have its own entries")
			}
			if !reflect.DeepEqual(tt.m.Journal, before) {
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

func TestMarkerHasAll(t *testing.T) {
	m := journalOf(3, 5)
	tests := []struct {
		changes []change
		want    bool
	}{
		{[]change{{Token: "t4"}}, true},
		{[]change{{Token: "t3"}, {Token: "t5"}}, true},
		{[]change{{Token: "t4"}, {Token: "other"}}, false},
		{[]change{{Token: "t2"}}, false},
	}
	for _, tt := range tests {
		if got := m.hasAll(tt.changes); got != tt.want {
			t.Errorf("hasAll(%+v) = %v, want %v", tt.changes, got, tt.want)
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
	s := New(fileStorage(t), Options{})
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
		bucket, ok, foreign := bucketOfKey(s.bucketsDir, tt.key)
		if bucket != tt.bucket || ok != (tt.bucket != "") || foreign != tt.foreign {
			t.Errorf("bucketOfKey(%q) = %q, %v, %v; want %q, foreign=%v", tt.key, bucket, ok, foreign, tt.bucket, tt.foreign)
		}
	}
}
