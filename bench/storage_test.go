package bench

import (
	"context"
	"io/fs"
	"path"
	"slices"
	"sync"

	"github.com/caddyserver/certmagic"
)

// memStorage is an in-memory certmagic.Storage, so that what a store holds
// and does can be told apart from what the file system costs. It indexes
// keys by directory, so that listing one costs what a file system's does.
type memStorage struct {
	mu   sync.RWMutex
	data map[string][]byte
	dirs map[string]map[string]bool // directory -> child keys and directories
}

func newMemStorage() *memStorage {
	return &memStorage{data: make(map[string][]byte), dirs: make(map[string]map[string]bool)}
}

func (m *memStorage) Store(_ context.Context, key string, value []byte) error {
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

func (m *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.data[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

func (m *memStorage) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remove(key)
	if siblings := m.dirs[path.Dir(key)]; siblings != nil {
		delete(siblings, key)
	}
	return nil
}

// remove deletes key and everything under it.
func (m *memStorage) remove(key string) {
	delete(m.data, key)
	for child := range m.dirs[key] {
		m.remove(child)
	}
	delete(m.dirs, key)
}

func (m *memStorage) Exists(_ context.Context, key string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.data[key]
	return ok || m.dirs[key] != nil
}

func (m *memStorage) List(_ context.Context, prefix string, recursive bool) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	children := m.dirs[prefix]
	if len(children) == 0 {
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

func (m *memStorage) Stat(_ context.Context, key string) (certmagic.KeyInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.data[key]
	if !ok {
		return certmagic.KeyInfo{}, fs.ErrNotExist
	}
	return certmagic.KeyInfo{Key: key, Size: int64(len(v)), IsTerminal: true}, nil
}

func (m *memStorage) Lock(context.Context, string) error   { return nil }
func (m *memStorage) Unlock(context.Context, string) error { return nil }

var _ certmagic.Storage = (*memStorage)(nil)
