package store

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"time"
	"unique"
	"unsafe"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// entry is what the store holds for one bucket: its live configuration
// and, rarely, a candidate on trial. It is immutable once published, and
// small: the document text is not kept (Get renders it from the policy,
// which keeps every value verbatim), the metadata is packed, and identical
// documents share one compiled policy.
type entry struct {
	name string // the bucket
	// policy is the live configuration; nil for a bucket that only has a
	// candidate.
	policy *cors.Policy
	// extra holds what few buckets need; nil for the others.
	extra *entryExtra
	meta
}

// entryExtra is the rarely needed part of an entry.
type entryExtra struct {
	// version is the record's version when it is not one Put drew (a
	// record written by hand), which meta cannot hold.
	version string
	// candidate is the configuration on trial, if any.
	candidate *Candidate
}

// candidate returns the entry's candidate, or nil; also for a nil entry.
func (e *entry) candidate() *Candidate {
	if e == nil || e.extra == nil {
		return nil
	}
	return e.extra.candidate
}

// withCandidate returns a copy of e with candidate c (nil for none).
func (e *entry) withCandidate(c *Candidate) *entry {
	n := allocEntry(e.name)
	name := n.name
	*n = *e
	n.name = name
	var version string
	if e.extra != nil {
		version = e.extra.version
	}
	n.extra = nil
	if version != "" || c != nil {
		n.extra = &entryExtra{version: version, candidate: c}
	}
	return n
}

// meta is a record's metadata, packed: the version Put draws as its 12
// bytes, the time as Unix nanoseconds, and the writer interned, since few
// access keys write many buckets.
type meta struct {
	at int64
	by unique.Handle[string]
	id [idBytes]byte
}

// allocEntry returns a new entry whose name is a copy of name held in the
// same allocation, right after the entry, so that a lookup compares the
// name without another memory access: on the request path, with many
// buckets, that access is a cache miss of its own, 15 to 20% of a lookup
// among 100k buckets (BenchmarkStoreLookup in bench/, against a separately
// allocated name). Bucket names are at most 63 bytes; the buffer sizes keep
// the allocation in the size class a separate name would have cost.
func allocEntry(name string) *entry {
	var e *entry
	var buf []byte
	switch n := len(name); {
	case n <= 16:
		a := new(struct {
			entry
			name [16]byte
		})
		e, buf = &a.entry, a.name[:n]
	case n <= 32:
		a := new(struct {
			entry
			name [32]byte
		})
		e, buf = &a.entry, a.name[:n]
	case n <= 64:
		a := new(struct {
			entry
			name [64]byte
		})
		e, buf = &a.entry, a.name[:n]
	default:
		return &entry{name: name}
	}
	copy(buf, name)
	if len(buf) > 0 {
		// The bytes are written once, here, before the entry is shared.
		e.name = unsafe.String(&buf[0], len(buf))
	}
	return e
}

// idBytes is the size of the random versions Put draws (newID).
const idBytes = 12

// noTime stands for the zero time, and for times that Unix nanoseconds
// cannot hold (records written by hand).
const noTime = math.MinInt64

// newEntry packs the metadata of rec around policy.
func newEntry(rec Record, policy *cors.Policy) *entry {
	e := allocEntry(rec.Bucket)
	e.policy = policy
	e.at = noTime
	if t := rec.UpdatedAt; !t.IsZero() && t.Year() >= 1678 && t.Year() <= 2261 {
		e.at = t.UnixNano()
	}
	e.by = unique.Make(rec.UpdatedBy)
	if !packID(&e.id, rec.Version) {
		e.extra = &entryExtra{version: rec.Version}
	}
	return e
}

// packID decodes a version drawn by newID into id, and reports whether v
// was one.
func packID(id *[idBytes]byte, v string) bool {
	if len(v) != 2*idBytes {
		return false
	}
	for i := range len(v) {
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false // upper case would not render back the same
		}
	}
	_, err := hex.Decode(id[:], []byte(v))
	return err == nil
}

func (e *entry) version() string {
	if e.extra != nil {
		return e.extra.version
	}
	return hex.EncodeToString(e.id[:])
}

func (e *entry) updatedAt() time.Time {
	if e.at == noTime {
		return time.Time{}
	}
	return time.Unix(0, e.at).UTC()
}

// record renders the entry's live configuration as a Record, its document
// in canonical form.
func (e *entry) record() Record {
	return Record{
		Bucket:    e.name,
		Document:  string(e.policy.Configuration().Marshal()),
		Version:   e.version(),
		UpdatedAt: e.updatedAt(),
		UpdatedBy: e.by.Value(),
	}
}

// sameLive reports whether e and o serve the same live policy with the
// same metadata, so that replacing one with the other would change nothing.
func (e *entry) sameLive(o *entry) bool {
	return e.policy == o.policy && e.meta == o.meta && e.version() == o.version()
}

// digest identifies a canonical document, so that buckets with the same
// document share one compiled policy without the text being kept.
type digest [16]byte

func digestOf(doc []byte) digest {
	sum := sha256.Sum256(doc)
	return digest(sum[:16])
}

// policyCache shares compiled policies between the entries whose documents
// are the same, and counts the entries using each so it can forget the
// policies no entry uses. It is guarded by Store.mu.
type policyCache struct {
	byDigest map[digest]*cors.Policy
	users    map[*cors.Policy]policyUse
}

type policyUse struct {
	digest digest
	n      int
}

func newPolicyCache() policyCache {
	return policyCache{byDigest: make(map[digest]*cors.Policy), users: make(map[*cors.Policy]policyUse)}
}

// get returns the shared policy of the document with digest d, if one is in
// use.
func (c *policyCache) get(d digest) *cors.Policy { return c.byDigest[d] }

// acquire returns the shared policy of the document with digest d, which is
// p unless another one is already in use, and counts one more user of it.
func (c *policyCache) acquire(d digest, p *cors.Policy) *cors.Policy {
	if shared := c.byDigest[d]; shared != nil {
		p = shared
	} else {
		c.byDigest[d] = p
	}
	u := c.users[p]
	u.digest = d
	u.n++
	c.users[p] = u
	return p
}

// release counts one user less of p, forgetting p when it has none.
func (c *policyCache) release(p *cors.Policy) {
	u, ok := c.users[p]
	if !ok {
		return
	}
	if u.n--; u.n > 0 {
		c.users[p] = u
		return
	}
	delete(c.users, p)
	delete(c.byDigest, u.digest)
}

func (c *policyCache) len() int { return len(c.byDigest) }
