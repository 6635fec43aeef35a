package events_test

import (
	"errors"
	"testing"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func validEnvelope(tb testing.TB) []byte {
	tb.Helper()
	p, err := anypb.New(&pathwayv1.ReferralTriaged{Reason: "eligible", Priority: pathwayv1.Priority_PRIORITY_HIGH})
	if err != nil {
		tb.Fatal(err)
	}
	data, err := proto.Marshal(&pathwayv1.Envelope{
		EventId: "0190f5a4-0000-7000-8000-000000000001", AggregateType: "referral", AggregateId: "r1",
		EventType: "pathway.v1.ReferralTriaged", SchemaVersion: 1, Payload: p,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestDecode(t *testing.T) {
	good := validEnvelope(t)
	rec, err := events.Decode(7, "pathway.referral.r1", "pathway.v1.ReferralTriaged", good)
	if err != nil {
		t.Fatalf("decode a valid event: %v", err)
	}
	if rec.Sequence != 7 || rec.Aggregate.ID != "r1" || rec.Payload.(*pathwayv1.ReferralTriaged).GetReason() != "eligible" {
		t.Fatalf("decoded %+v", rec)
	}
	for _, tc := range []struct {
		name, subject, typ string
		data               []byte
		want               error
	}{
		{"empty body", "pathway.referral.r1", "", nil, events.ErrCorrupt},
		{"garbage", "pathway.referral.r1", "", []byte{0xff, 0x00, 0x13}, events.ErrCorrupt},
		{"header disagrees", "pathway.referral.r1", "pathway.v1.ReferralReceived", good, events.ErrCorrupt},
		{"wrong aggregate subject", "pathway.referral.r2", "", good, events.ErrCorrupt},
		{"not a pathway subject", "other.referral.r1", "", good, events.ErrCorrupt},
		{"truncated", "pathway.referral.r1", "", good[:len(good)-3], events.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.Decode(42, tc.subject, tc.typ, tc.data)
			var de *events.DecodeError
			if !errors.Is(err, tc.want) || !errors.As(err, &de) || de.Sequence != 42 {
				t.Fatalf("got %v, want %v naming sequence 42", err, tc.want)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bodies, subjects and type headers to the
// decoder: it must never panic, and must either decode a record that
// agrees with its subject or return a *DecodeError naming the sequence.
func FuzzDecode(f *testing.F) {
	good := validEnvelope(f)
	f.Add("pathway.referral.r1", "pathway.v1.ReferralTriaged", good)
	f.Add("pathway.referral.r1", "", good[:10])
	f.Add("pathway.worker.w1", "pathway.v1.WorkerRegistered", []byte{0x0a, 0x00, 0x5a, 0x02, 0x0a, 0x00})
	f.Add("x", "", []byte{})
	f.Fuzz(func(t *testing.T, subject, typ string, data []byte) {
		rec, err := events.Decode(99, subject, typ, data)
		if err != nil {
			var de *events.DecodeError
			if !errors.As(err, &de) || de.Sequence != 99 {
				t.Fatalf("error %v is not a *DecodeError for sequence 99", err)
			}
			return
		}
		if rec.Payload == nil || rec.Aggregate.Subject() != subject || events.TypeOf(rec.Payload) != rec.Type {
			t.Fatalf("decoded an inconsistent record %+v from %q", rec, subject)
		}
	})
}
