package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// CredentialsFile is the file in the data directory that holds the seed
// of the server's one NATS user, an NKey. Start writes it on the first
// start, with mode 0600, and refuses to run while it is open to other
// users. A tool authenticates with it as an NKey seed file (the nats
// CLI's --nkey, nats.go's NkeyOptionFromSeed).
//
// NKeys, not a user and password: the server keeps only the public key,
// and a client proves it holds the seed by signing the server's nonce, so
// the secret never crosses the connection, not even over loopback.
const CredentialsFile = "nats.nk"

// ClientOptions are the options a client in another process on this
// machine needs to reach the server running on dataDir: its user's
// credentials, and, when the server listens with TLS, trust in exactly the
// certificate it presents (whatever names that certificate carries). It
// returns an error wrapping fs.ErrNotExist when dataDir has no credentials
// (no server has started on it), and an error when they are open to other
// users. Start writes both files.
func ClientOptions(dataDir string) ([]nats.Option, error) {
	key, err := readKey(filepath.Join(dataDir, CredentialsFile))
	if err != nil {
		return nil, err
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	opts := []nats.Option{nats.Nkey(pub, key.Sign)}
	pin, err := pinnedTLS(dataDir)
	if err != nil {
		return nil, err
	}
	if pin != nil {
		opts = append(opts, nats.Secure(pin))
	}
	return opts, nil
}

// userKey returns the user key stored in dir, generating it first when
// there is none.
func userKey(dir string) (nkeys.KeyPair, error) {
	path := filepath.Join(dir, CredentialsFile)
	key, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, err = nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("embedded nats: generate credentials: %w", err)
	}
	seed, err := key.Seed()
	if err != nil {
		return nil, fmt.Errorf("embedded nats: generate credentials: %w", err)
	}
	body := fmt.Appendf(nil, "# The NATS user of pathway's embedded server on this data directory (an NKey\n"+
		"# seed). Whoever reads it can read and write the whole event log: keep it\n"+
		"# readable by its owner only. For the nats CLI: nats --nkey %s ...\n%s\n", path, seed)
	// Written aside, then linked into place: a reader never sees half a
	// file, and of two first starts at once the second uses the first's key.
	err = writeOwnerOnly(dir, body, func(tmp string) error { return os.Link(tmp, path) })
	if errors.Is(err, fs.ErrExist) {
		return readKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded nats: write credentials: %w", err)
	}
	return key, nil
}

// readKey reads the user key at path, refusing a file that other users
// may read or write.
func readKey(path string) (nkeys.KeyPair, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: credentials: %w", err)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("embedded nats: credentials %s are open to other users (mode %04o); make them its owner's only: chmod 600 %s", path, mode, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: credentials: %w", err)
	}
	defer clear(b)
	key, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: credentials %s: %w", path, err)
	}
	return key, nil
}

// writeOwnerOnly writes body to a new file in dir with mode 0600, synced,
// and hands its name to place, which moves or links it where it belongs;
// the temporary name is removed afterwards.
func writeOwnerOnly(dir string, body []byte, place func(tmp string) error) error {
	f, err := os.CreateTemp(dir, ".pathway-*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return place(f.Name())
}
