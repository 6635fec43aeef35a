package keyring

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MasterEnv is the environment variable that may hold the master key
// (base64 of 32 bytes). It wins over the key file.
const MasterEnv = "PATHWAY_MASTER_KEY"

// Local is a master key held by pathway itself: AES-256-GCM with a 32-byte
// key from a file or the environment. Keep the key apart from the data
// directory and its backups in production: whoever has both can read
// every personal field not yet erased.
type Local struct{ aead cipher.AEAD }

var _ Master = (*Local)(nil)

// NewLocal returns a master key from 32 bytes.
func NewLocal(key []byte) (*Local, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("keyring: a master key is 32 bytes, got %d", len(key))
	}
	a, err := gcm(key)
	if err != nil {
		return nil, err
	}
	return &Local{aead: a}, nil
}

// Wrap encrypts a data key, bound to its id.
func (l *Local) Wrap(_ context.Context, id string, key []byte) ([]byte, error) {
	nonce := make([]byte, l.aead.NonceSize(), l.aead.NonceSize()+len(key)+l.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return l.aead.Seal(nonce, nonce, key, []byte(id)), nil
}

// Unwrap decrypts a data key wrapped by Wrap for id.
func (l *Local) Unwrap(_ context.Context, id string, wrapped []byte) ([]byte, error) {
	n := l.aead.NonceSize()
	if len(wrapped) < n {
		return nil, errors.New("wrapped key too short")
	}
	return l.aead.Open(nil, wrapped[:n], wrapped[n:], []byte(id))
}

// LoadMaster returns the master key: from the environment variable
// MasterEnv when it is set (getenv), otherwise from the file at path (the
// base64 of 32 bytes). When there is neither and create is set, it makes a
// new key and writes it to path, readable only by its owner, and reports
// created. Errors name the source, never the key.
func LoadMaster(path string, getenv func(string) string, create bool) (m *Local, created bool, err error) {
	if v := strings.TrimSpace(getenv(MasterEnv)); v != "" {
		key, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, false, fmt.Errorf("keyring: %s is not base64: %w", MasterEnv, err)
		}
		m, err := NewLocal(key)
		if err != nil {
			return nil, false, fmt.Errorf("keyring: %s: %w", MasterEnv, err)
		}
		return m, false, nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, false, fmt.Errorf("keyring: master key file %s is not base64: %w", path, err)
		}
		m, err := NewLocal(key)
		if err != nil {
			return nil, false, fmt.Errorf("keyring: master key file %s: %w", path, err)
		}
		return m, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, false, fmt.Errorf("keyring: master key: %w (set %s or give the key file)", err, MasterEnv)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadMaster(path, getenv, false) // made by another process just now
		}
		return nil, false, fmt.Errorf("keyring: write master key %s: %w", path, err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	m, err = NewLocal(key)
	return m, true, err
}
