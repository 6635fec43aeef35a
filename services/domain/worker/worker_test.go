package worker_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/worker"
	"google.golang.org/protobuf/proto"
)

func registered() *pathwayv1.WorkerRegistered {
	return &pathwayv1.WorkerRegistered{Name: "Robin Worker", Pcn: "U12345", Practices: []string{"A81001"}, Capacity: 5,
		Languages: []string{"en", "pl"}, Skills: []string{"benefits advice"}}
}

func fieldsOf(err error) []string {
	ke, _ := errors.AsType[*kernel.Error](err)
	var out []string
	for _, f := range ke.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestRegisterRefusesHiddenCharacters(t *testing.T) {
	for _, tc := range []struct {
		name       string
		change     func(*pathwayv1.WorkerRegistered)
		wantFields []string
	}{
		{"valid", func(*pathwayv1.WorkerRegistered) {}, nil},
		{"a name in another script", func(e *pathwayv1.WorkerRegistered) { e.Name = "Zoë Łukasz" }, nil},
		{"a line break in the name", func(e *pathwayv1.WorkerRegistered) { e.Name = "Robin\nWorker" }, []string{"name"}},
		{"a right-to-left override in the name", func(e *pathwayv1.WorkerRegistered) { e.Name = "Robin \u202eWorker" }, []string{"name"}},
		{"a zero-width joiner in a language", func(e *pathwayv1.WorkerRegistered) { e.Languages = []string{"en", "p\u200dl"} }, []string{"languages[1]"}},
		{"an escape in a skill", func(e *pathwayv1.WorkerRegistered) { e.Skills = []string{"\x1b[2Jadvice"} }, []string{"skills[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := registered()
			tc.change(e)
			evs, err := worker.Register(e)
			if tc.wantFields == nil {
				if err != nil || len(evs) != 1 {
					t.Fatalf("got %v, want the registration", err)
				}
				return
			}
			if !errors.Is(err, worker.ErrInvalid) || !slices.Equal(fieldsOf(err), tc.wantFields) {
				t.Fatalf("got %v, want worker.ErrInvalid on %v", err, tc.wantFields)
			}
		})
	}
}

func TestReasonsRefuseHiddenCharacters(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	w := func(extra ...proto.Message) *worker.Worker {
		changes := []kernel.Change{{Sequence: 1, Payload: registered()}}
		for i, p := range extra {
			changes = append(changes, kernel.Change{Sequence: uint64(i + 2), Payload: p})
		}
		return worker.Replay("w1", changes)
	}
	for _, tc := range []struct {
		name string
		do   func(reason string) error
	}{
		{"capacity", func(r string) error { _, err := w().ChangeCapacity(7, r); return err }},
		{"absence", func(r string) error { _, err := w().Absent(now, now.Add(time.Hour), r); return err }},
		{"return", func(r string) error {
			ww := w()
			evs, err := ww.Absent(now, time.Time{}, "leave")
			if err != nil {
				return err
			}
			ww.Apply(kernel.Change{Sequence: 9, Payload: evs[0]})
			_, err = ww.Return(r)
			return err
		}},
		{"deactivation", func(r string) error { _, err := w().Deactivate(r); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do("leaving;\nsee the rota"); err != nil {
				t.Fatalf("a reason over lines: got %v, want it accepted", err)
			}
			err := tc.do("leaving\u202e")
			if !errors.Is(err, worker.ErrInvalid) || !slices.Equal(fieldsOf(err), []string{"reason"}) {
				t.Fatalf("a reason with U+202E: got %v, want worker.ErrInvalid on reason", err)
			}
		})
	}
}
