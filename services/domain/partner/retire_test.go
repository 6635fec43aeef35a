package partner_test

import (
	"errors"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"google.golang.org/protobuf/proto"
)

// TestServiceRetire is the table of taking a service out of the directory
// and back: given events, a command, the events decided or the error.
func TestServiceRetire(t *testing.T) {
	registered := &pathwayv1.ServiceRegistered{Details: serviceDetails(), CapacityStatus: pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY}
	for _, tc := range []struct {
		name    string
		given   []proto.Message
		do      func(*partner.Service) ([]proto.Message, error)
		want    []proto.Message
		wantErr error
		retired string
	}{
		{"an active service retires as inactive", []proto.Message{registered},
			func(s *partner.Service) ([]proto.Message, error) { return s.Retire("inactive", "") },
			[]proto.Message{&pathwayv1.ServiceRetired{Status: "inactive"}}, nil, "inactive"},
		{"an inactive service becomes defunct", []proto.Message{registered, &pathwayv1.ServiceRetired{Status: "inactive"}},
			func(s *partner.Service) ([]proto.Message, error) { return s.Retire("defunct", "") },
			[]proto.Message{&pathwayv1.ServiceRetired{Status: "defunct"}}, nil, "defunct"},
		{"retiring again changes nothing", []proto.Message{registered, &pathwayv1.ServiceRetired{Status: "inactive"}},
			func(s *partner.Service) ([]proto.Message, error) { return s.Retire("inactive", "") }, nil, nil, "inactive"},
		{"a service that does not exist cannot retire", nil,
			func(s *partner.Service) ([]proto.Message, error) { return s.Retire("inactive", "") }, nil, partner.ErrConflict, ""},
		{"only inactive or defunct retire", []proto.Message{registered},
			func(s *partner.Service) ([]proto.Message, error) { return s.Retire("active", "") }, nil, partner.ErrInvalid, ""},
		{"a retired service is reinstated", []proto.Message{registered, &pathwayv1.ServiceRetired{Status: "defunct"}},
			func(s *partner.Service) ([]proto.Message, error) { return s.Reinstate("") },
			[]proto.Message{&pathwayv1.ServiceReinstated{}}, nil, ""},
		{"reinstating an active service changes nothing", []proto.Message{registered},
			func(s *partner.Service) ([]proto.Message, error) { return s.Reinstate("") }, nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partner.ReplayService("svc-1", changes(tc.given...))
			got, err := tc.do(s)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if !equalEvents(got, tc.want) {
				t.Fatalf("got events %v, want %v", got, tc.want)
			}
			after := partner.ReplayService("svc-1", changes(append(tc.given, got...)...))
			if after.Retired() != tc.retired {
				t.Fatalf("after: Retired() = %q, want %q", after.Retired(), tc.retired)
			}
		})
	}
}
