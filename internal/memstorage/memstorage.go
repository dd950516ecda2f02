// Package memstorage is an in-memory certmagic.Storage for the tests and
// benchmarks of the store, where the file system's fsync would hide what
// the store itself does and costs. It lists like certmagic's file storage
// (a directory's keys and subdirectories; fs.ErrNotExist for none), with
// keys indexed by directory so that a listing costs what a file system's
// does, and its locks exclude one another.
package memstorage

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"slices"
	"sync"

	"github.com/caddyserver/certmagic"
)

// Storage is an in-memory certmagic.Storage. The zero value is not ready:
// use New.
type Storage struct {
	mu    sync.RWMutex
	data  map[string][]byte
	dirs  map[string]map[string]bool // directory -> child keys and directories
	locks sync.Map                   // name -> chan struct{} of capacity 1
}

// New returns an empty storage.
func New() *Storage {
	return &Storage{data: make(map[string][]byte), dirs: make(map[string]map[string]bool)}
}

// Store keeps a copy of value under key.
func (m *Storage) Store(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[key] = slices.Clone(value)
	for child := key; child != "." && child != "/"; child = path.Dir(child) {
		dir := path.Dir(child)
		if m.dirs[dir] == nil {
			m.dirs[dir] = make(map[string]bool)
		}
		if m.dirs[dir][child] {
			break
		}
		m.dirs[dir][child] = true
	}
	return nil
}

// Load returns what is stored under key.
func (m *Storage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.data[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

// Delete removes key and everything under it.
func (m *Storage) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(key)
	if siblings := m.dirs[path.Dir(key)]; siblings != nil {
		delete(siblings, key)
	}
	return nil
}

func (m *Storage) remove(key string) {
	delete(m.data, key)
	for child := range m.dirs[key] {
		m.remove(child)
	}
	delete(m.dirs, key)
}

// Exists reports whether key is a stored key or a directory.
func (m *Storage) Exists(_ context.Context, key string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.data[key]
	return ok || m.dirs[key] != nil
}

// List returns the keys and directories in prefix, and with recursive
// everything under them too.
func (m *Storage) List(_ context.Context, prefix string, recursive bool) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.dirs[prefix]) == 0 {
		return nil, fs.ErrNotExist
	}
	var keys []string
	var walk func(dir string)
	walk = func(dir string) {
		for child := range m.dirs[dir] {
			keys = append(keys, child)
			if recursive {
				walk(child)
			}
		}
	}
	walk(prefix)
	return keys, nil
}

// Stat describes a stored key.
func (m *Storage) Stat(_ context.Context, key string) (certmagic.KeyInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.data[key]
	if !ok {
		return certmagic.KeyInfo{}, fs.ErrNotExist
	}
	return certmagic.KeyInfo{Key: key, Size: int64(len(v)), IsTerminal: true}, nil
}

// Lock waits until name is free or ctx ends.
func (m *Storage) Lock(ctx context.Context, name string) error {
	ch, _ := m.locks.LoadOrStore(name, make(chan struct{}, 1))
	select {
	case ch.(chan struct{}) <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock frees name.
func (m *Storage) Unlock(_ context.Context, name string) error {
	ch, ok := m.locks.Load(name)
	if !ok {
		return errors.New("memstorage: " + name + " is not locked")
	}
	select {
	case <-ch.(chan struct{}):
		return nil
	default:
		return errors.New("memstorage: " + name + " is not locked")
	}
}

var _ certmagic.Storage = (*Storage)(nil)
