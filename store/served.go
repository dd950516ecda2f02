package store

import (
	"hash/maphash"
	"slices"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// hash places a bucket name in the table of entries.
func (s *Store) hash(name string) uint64 { return maphash.String(s.hashSeed, name) }

// entry returns the entry of bucket, or nil.
func (s *Store) entry(bucket string) *entry {
	return s.buckets.get(s.hash(bucket), bucket)
}

// Lookup returns what decides the requests to bucket: its live policy (nil
// when the bucket has no CORS configuration) and its candidate on trial
// (nil when none). It takes no lock and allocates nothing, and costs the
// same for a bucket without a candidate as before candidates existed.
func (s *Store) Lookup(bucket string) Policies {
	e := s.entry(bucket)
	if e == nil {
		return Policies{}
	}
	if e.extra == nil {
		return Policies{Live: e.policy}
	}
	return Policies{Live: e.policy, Candidate: e.extra.candidate}
}

// Get returns the stored record of bucket, as GetBucketCors and the admin
// API show it. The document is rendered anew from the compiled policy on
// every call.
func (s *Store) Get(bucket string) (Record, bool) {
	e := s.entry(bucket)
	if e == nil || e.policy == nil {
		return Record{}, false
	}
	return e.record(), true
}

// Buckets returns the names of all configured buckets, sorted.
func (s *Store) Buckets() []string {
	return s.names(func(e *entry) bool { return e.policy != nil })
}

// Candidates returns the names of the buckets that have a candidate
// configuration, sorted.
func (s *Store) Candidates() []string {
	return s.names(func(e *entry) bool { return e.candidate() != nil })
}

func (s *Store) names(keep func(*entry) bool) []string {
	var names []string
	s.buckets.each(func(e *entry) bool {
		if keep(e) {
			names = append(names, e.name)
		}
		return true
	})
	slices.Sort(names)
	return names
}

// Stats returns a copy of the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	policies := s.policies.len()
	s.mu.Unlock()
	s.statsMu.Lock()
	st := s.stats
	s.statsMu.Unlock()
	st.Buckets = int(s.live.Load())
	st.Candidates = int(s.candidates.Load())
	st.Policies = policies
	st.Generation = s.gen.Load()
	return st
}

// lockBucket serializes this instance's writes to one bucket.
func (s *Store) lockBucket(bucket string) func() {
	m := &s.bucketLocks[s.hash(bucket)%uint64(len(s.bucketLocks))]
	m.Lock()
	return m.Unlock
}

// cachedPolicy returns the shared compiled policy of the document with
// digest d, if one is in use.
func (s *Store) cachedPolicy(d digest) *cors.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.policies.get(d)
}

// edit is a change of the served configurations in progress, made under
// s.mu. Each change takes effect at once for readers, bucket by bucket;
// commit counts the edit as one generation.
type edit struct {
	s       *Store
	changed bool
}

// beginEdit starts an edit; s.mu must be held until commit.
func (s *Store) beginEdit() *edit { return &edit{s: s} }

func (ed *edit) get(bucket string) *entry { return ed.s.entry(bucket) }

// put makes e, whose canonical document has digest d, its bucket's live
// entry, sharing the compiled policy of an equal document already in use.
// The bucket keeps its candidate.
func (ed *edit) put(e *entry, d digest) {
	e.policy = ed.s.policies.acquire(d, e.policy)
	old := ed.get(e.name)
	if old != nil && old.candidate() != nil {
		e = e.withCandidate(old.candidate())
	}
	ed.store(old, e, true, false)
}

// remove drops bucket's live configuration, if it has one. The bucket keeps
// its candidate.
func (ed *edit) remove(bucket string) {
	old := ed.get(bucket)
	if old == nil || old.policy == nil {
		return
	}
	var next *entry
	if c := old.candidate(); c != nil {
		next = allocEntry(bucket).withCandidate(c)
	}
	ed.store(old, next, true, false)
}

// putCandidate makes c, whose canonical document has digest d, bucket's
// candidate.
func (ed *edit) putCandidate(bucket string, c *Candidate, d digest) {
	c.Policy = ed.s.policies.acquire(d, c.Policy)
	old := ed.get(bucket)
	base := old
	if base == nil {
		base = allocEntry(bucket)
	}
	ed.store(old, base.withCandidate(c), false, true)
}

// removeCandidate drops bucket's candidate, if it has one.
func (ed *edit) removeCandidate(bucket string) {
	old := ed.get(bucket)
	if old == nil || old.candidate() == nil {
		return
	}
	var next *entry
	if old.policy != nil {
		next = old.withCandidate(nil)
	}
	ed.store(old, next, false, true)
}

// store replaces bucket's entry old (nil when there is none) with next (nil
// to remove it) and keeps the counts. live and candidate say which part of
// old is replaced, and so releases its policy; the other part, if any, next
// carries over.
func (ed *edit) store(old, next *entry, live, candidate bool) {
	s := ed.s
	var name string
	if next != nil {
		name = next.name
		s.buckets.put(s.hash(name), next, s.hash)
	} else if old != nil {
		name = old.name
		s.buckets.remove(s.hash(name), name)
	}
	if old != nil {
		if live && old.policy != nil {
			s.policies.release(old.policy)
		}
		if c := old.candidate(); candidate && c != nil {
			s.policies.release(c.Policy)
		}
	}
	s.live.Add(count(next, hasLive) - count(old, hasLive))
	s.candidates.Add(count(next, hasCandidate) - count(old, hasCandidate))
	ed.changed = true
}

func hasLive(e *entry) bool      { return e.policy != nil }
func hasCandidate(e *entry) bool { return e.candidate() != nil }

func count(e *entry, has func(*entry) bool) int64 {
	if e != nil && has(e) {
		return 1
	}
	return 0
}

// each visits every entry.
func (ed *edit) each(fn func(*entry) bool) { ed.s.buckets.each(fn) }

// commit ends the edit, counting a generation if anything changed.
func (ed *edit) commit() {
	if ed.changed {
		ed.s.gen.Add(1)
	}
}

// install makes e, whose document has digest d, its bucket's configuration
// in this instance: a local write, which a sync in progress must not undo.
func (s *Store) install(e *entry, d digest) {
	s.localEdit(dirtyKey{bucket: e.name}, func(ed *edit) { ed.put(e, d) })
}

// uninstall removes bucket's configuration from this instance: a local
// write.
func (s *Store) uninstall(bucket string) {
	s.localEdit(dirtyKey{bucket: bucket}, func(ed *edit) { ed.remove(bucket) })
}

// installCandidate makes c, whose document has digest d, bucket's
// candidate in this instance: a local write.
func (s *Store) installCandidate(bucket string, c *Candidate, d digest) {
	s.localEdit(dirtyKey{bucket: bucket, candidate: true}, func(ed *edit) { ed.putCandidate(bucket, c, d) })
}

// uninstallCandidate removes bucket's candidate from this instance: a
// local write.
func (s *Store) uninstallCandidate(bucket string) {
	s.localEdit(dirtyKey{bucket: bucket, candidate: true}, func(ed *edit) { ed.removeCandidate(bucket) })
}

// dirtyKey names what a local write changed: a bucket's configuration or
// its candidate.
type dirtyKey struct {
	bucket    string
	candidate bool
}

func (s *Store) localEdit(k dirtyKey, change func(*edit)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ed := s.beginEdit()
	change(ed)
	s.dirty[k] = struct{}{}
	ed.commit()
}
