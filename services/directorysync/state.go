package directorysync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the KV bucket of the last sync of each source.
const Bucket = "PATHWAY_DIRECTORY_SYNC"

// State remembers syncs in the KV bucket Bucket, one key per source (a
// hash of its URL), holding the start of its last complete sync and its
// counts. It is safe for concurrent use.
type State struct {
	kv jetstream.KeyValue
}

// OpenState opens (creating if need be) the bucket, with replicas copies.
func OpenState(ctx context.Context, js jetstream.JetStream, replicas int) (*State, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket, Description: "pathway: the last directory sync of each Open Referral UK source",
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1), History: 1})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", Bucket, err)
	}
	return &State{kv: kv}, nil
}

// remembered is a bucket entry.
type remembered struct {
	Source     string    `json:"source"`
	StartedAt  time.Time `json:"started_at"`
	Listed     int       `json:"listed"`
	Created    int       `json:"created"`
	Updated    int       `json:"updated"`
	Retired    int       `json:"retired"`
	Reinstated int       `json:"reinstated"`
	Unchanged  int       `json:"unchanged"`
	Skipped    int       `json:"skipped"`
}

func key(source string) string {
	h := sha256.Sum256([]byte(source))
	return hex.EncodeToString(h[:16])
}

// Last returns the start of source's last complete sync; zero when none.
func (s *State) Last(ctx context.Context, source string) (time.Time, error) {
	e, err := s.kv.Get(ctx, key(source))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	var r remembered
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return time.Time{}, fmt.Errorf("the last sync of %s is unreadable: %w", source, err)
	}
	return r.StartedAt, nil
}

// Remember records a complete sync of source that started at t.
func (s *State) Remember(ctx context.Context, source string, t time.Time, rep Report) error {
	b, _ := json.Marshal(remembered{Source: source, StartedAt: t, Listed: rep.Listed, Created: rep.Created, Updated: rep.Updated,
		Retired: rep.Retired, Reinstated: rep.Reinstated, Unchanged: rep.Unchanged, Skipped: rep.Skipped})
	_, err := s.kv.Put(ctx, key(source), b)
	return err
}
