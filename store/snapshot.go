package store

import (
	"hash/maphash"
	"slices"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// hash places a bucket name in the snapshot's trie.
func (s *Store) hash(name string) uint64 { return maphash.String(s.hashSeed, name) }

// entry returns the entry of bucket, or nil.
func (s *Store) entry(bucket string) *entry {
	return s.buckets.get(s.hash(bucket), bucket)
}

// Lookup returns the compiled policy of bucket, or nil when the bucket has
// no CORS configuration. It takes no lock and allocates nothing.
func (s *Store) Lookup(bucket string) *cors.Policy {
	e := s.entry(bucket)
	if e == nil {
		return nil
	}
	return e.policy
}

// Get returns the stored record of bucket, as GetBucketCors and the admin
// API show it. The document is rendered anew from the compiled policy on
// every call.
func (s *Store) Get(bucket string) (Record, bool) {
	e := s.entry(bucket)
	if e == nil {
		return Record{}, false
	}
	return e.record(), true
}

// Buckets returns the names of all configured buckets, sorted.
func (s *Store) Buckets() []string {
	var names []string
	s.buckets.each(func(e *entry) bool {
		names = append(names, e.name)
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
	st.Buckets = s.buckets.len()
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

// put makes e, whose canonical document has digest d, its bucket's entry,
// sharing the compiled policy of an equal document already in use.
func (ed *edit) put(e *entry, d digest) {
	e.policy = ed.s.policies.acquire(d, e.policy)
	if old := ed.s.buckets.put(ed.s.hash(e.name), e, ed.s.hash); old != nil {
		ed.s.policies.release(old.policy)
	}
	ed.changed = true
}

// remove drops bucket's entry, if it has one.
func (ed *edit) remove(bucket string) {
	if old := ed.s.buckets.remove(ed.s.hash(bucket), bucket); old != nil {
		ed.s.policies.release(old.policy)
		ed.changed = true
	}
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
// in this instance's snapshot: a local write, which a sync in progress must
// not undo.
func (s *Store) install(e *entry, d digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ed := s.beginEdit()
	ed.put(e, d)
	s.dirty[e.name] = struct{}{}
	ed.commit()
}

// uninstall removes bucket from this instance's snapshot: a local write.
func (s *Store) uninstall(bucket string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ed := s.beginEdit()
	ed.remove(bucket)
	s.dirty[bucket] = struct{}{}
	ed.commit()
}
