package store

import "sync/atomic"

// table maps bucket names to entries for lock-free readers and one writer
// at a time: an open-addressing hash table whose slots are atomic
// pointers. A reader finds a bucket in about one slot, one entry and its
// name, as few memory accesses as a Go map; a writer changes one slot, so
// a change costs the same with a thousand buckets as with a million, apart
// from the rare growth, which rebuilds the table aside and publishes it
// whole. Readers see each change whole, a bucket at a time.
type table struct {
	cur atomic.Pointer[slots]
	// n counts entries; used counts entries and tombstones, which a
	// growth clears, and is only touched by the writer.
	n    atomic.Int64
	used int
}

// slots is one generation of the table. Its length is a power of two.
type slots []atomic.Pointer[entry]

// tombstone marks a slot whose entry was removed: probes go on past it.
var tombstone = &entry{}

// minSlots is the size of an empty table.
const minSlots = 16

// start returns the slot where the probe sequence of hash h starts, and
// the mask that wraps it around.
func (t slots) start(h uint64) (uint64, uint64) {
	mask := uint64(len(t) - 1)
	return h & mask, mask
}

// get returns the entry of name, whose hash is h, or nil. It is safe to
// call concurrently with a writer.
func (tb *table) get(h uint64, name string) *entry {
	t := tb.cur.Load()
	if t == nil {
		return nil
	}
	i, mask := t.start(h)
	for {
		e := (*t)[i].Load()
		if e == nil {
			return nil
		}
		if e != tombstone && e.name == name {
			return e
		}
		i = (i + 1) & mask
	}
}

// put stores e under e.name, whose hash is h, and returns the entry it
// replaced, if any. hash gives the hash of other names, for a growth. Only
// one writer may call put or remove at a time.
func (tb *table) put(h uint64, e *entry, hash func(string) uint64) (old *entry) {
	t := tb.cur.Load()
	if t == nil || 4*(tb.used+1) > 3*len(*t) {
		t = tb.grow(tb.len()+1, hash)
	}
	i, mask := t.start(h)
	free := -1
	for {
		cur := (*t)[i].Load()
		if cur == nil {
			break
		}
		if cur == tombstone {
			if free < 0 {
				free = int(i)
			}
		} else if cur.name == e.name {
			(*t)[i].Store(e)
			return cur
		}
		i = (i + 1) & mask
	}
	if free >= 0 {
		(*t)[free].Store(e)
	} else {
		(*t)[i].Store(e)
		tb.used++
	}
	tb.n.Add(1)
	return nil
}

// remove drops the entry of name, whose hash is h, and returns it, or nil.
func (tb *table) remove(h uint64, name string) *entry {
	t := tb.cur.Load()
	if t == nil {
		return nil
	}
	i, mask := t.start(h)
	for {
		cur := (*t)[i].Load()
		if cur == nil {
			return nil
		}
		if cur != tombstone && cur.name == name {
			(*t)[i].Store(tombstone)
			tb.n.Add(-1)
			return cur
		}
		i = (i + 1) & mask
	}
}

// grow publishes a table with room for n entries, holding the current
// entries and no tombstones, and returns it.
func (tb *table) grow(n int, hash func(string) uint64) *slots {
	size := minSlots
	for 2*size < 3*n { // at most two thirds full after the growth
		size *= 2
	}
	next := make(slots, size)
	mask := uint64(size - 1)
	tb.each(func(e *entry) bool {
		i := hash(e.name) & mask
		for next[i].Load() != nil {
			i = (i + 1) & mask
		}
		next[i].Store(e)
		return true
	})
	tb.used = tb.len()
	tb.cur.Store(&next)
	return &next
}

// len is the number of entries.
func (tb *table) len() int { return int(tb.n.Load()) }

// each calls fn for every entry until fn returns false, in no particular
// order. Run concurrently with a writer, it may or may not see the
// writer's changes.
func (tb *table) each(fn func(*entry) bool) {
	t := tb.cur.Load()
	if t == nil {
		return
	}
	for i := range *t {
		if e := (*t)[i].Load(); e != nil && e != tombstone {
			if !fn(e) {
				return
			}
		}
	}
}
