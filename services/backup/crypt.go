package backup

import (
	"context"
	"fmt"

	"filippo.io/age"
	"github.com/pathway-sp/pathway/events/keyring"
)

// stanzaType names the age header stanza of a file key wrapped by
// pathway's master key.
const stanzaType = "pathway-master"

// recipient wraps an age file key (fresh for each file) with the master
// key, the way the keyring wraps data keys, bound to id. age's interfaces
// take no context, so the caller's is kept for the master key's calls (a
// KMS's are requests); a recipient lives for one file.
type recipient struct {
	ctx    context.Context
	master keyring.Master
	id     string
}

var _ age.Recipient = (*recipient)(nil)

func (r *recipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	w, err := r.master.Wrap(r.ctx, r.id, fileKey)
	if err != nil {
		return nil, fmt.Errorf("wrap the file key: %w", err)
	}
	return []*age.Stanza{{Type: stanzaType, Args: []string{r.id}, Body: w}}, nil
}

// identity unwraps a file key wrapped by recipient, with the master key;
// like recipient it lives for one file, with its caller's context.
type identity struct {
	ctx    context.Context
	master keyring.Master
	id     string
}

var _ age.Identity = (*identity)(nil)

func (i *identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != stanzaType || len(s.Args) != 1 || s.Args[0] != i.id {
			continue
		}
		k, err := i.master.Unwrap(i.ctx, i.id, s.Body)
		if err != nil {
			// Another master key than the one the backup was made with.
			return nil, fmt.Errorf("%w: %w", ErrNoMasterKey, err)
		}
		return k, nil
	}
	return nil, age.ErrIncorrectIdentity
}
