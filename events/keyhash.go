package events

// KeyHash is the hash of an idempotency key as the store records it in
// each event's envelope (idempotency_key_hash); "" for no key. A command
// handler compares it with an aggregate's events to recognise a retry of
// a command that already took effect.
func KeyHash(key string) string { return hashKey(key) }
