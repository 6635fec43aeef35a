package partner_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"google.golang.org/protobuf/proto"
)

const (
	capacity  = pathwayv1.CapacityStatus_CAPACITY_STATUS_CAPACITY
	noCap     = pathwayv1.CapacityStatus_CAPACITY_STATUS_NO_CAPACITY
	waitlist  = pathwayv1.CapacityStatus_CAPACITY_STATUS_WAITLIST
	assess    = pathwayv1.CapacityStatus_CAPACITY_STATUS_ADDITIONAL_ASSESSMENT_REQUIRED
	unknownCp = pathwayv1.CapacityStatus_CAPACITY_STATUS_UNSPECIFIED
)

// changes numbers payloads as a stream from sequence 1.
func changes(payloads ...proto.Message) []kernel.Change {
	out := make([]kernel.Change, len(payloads))
	for i, p := range payloads {
		out[i] = kernel.Change{Sequence: uint64(i + 1), Payload: p}
	}
	return out
}

func partnerDetails() *pathwayv1.PartnerRegistered {
	return &pathwayv1.PartnerRegistered{
		Name: "Tees Friends", Description: "A befriending charity.", HsdsOrganizationId: "tees-friends",
		Contact:            &pathwayv1.ContactPoint{Name: "Jo", Email: "hello@teesfriends.org.uk", Phone: "01642 000111", Url: "https://teesfriends.org.uk"},
		RegistrationNumber: "1123456",
	}
}

func TestPartnerSave(t *testing.T) {
	renamed := partnerDetails()
	renamed.Name = "Tees Friends CIO"
	updated := &pathwayv1.PartnerUpdated{Name: "Tees Friends CIO", Description: "A befriending charity.", HsdsOrganizationId: "tees-friends",
		Contact: partnerDetails().GetContact(), RegistrationNumber: "1123456"}
	for _, tc := range []struct {
		name  string
		given []proto.Message
		save  *pathwayv1.PartnerRegistered
		want  []proto.Message
	}{
		{"new: registered", nil, partnerDetails(), []proto.Message{partnerDetails()}},
		{"same details: nothing", []proto.Message{partnerDetails()}, partnerDetails(), nil},
		{"changed: updated", []proto.Message{partnerDetails()}, renamed, []proto.Message{updated}},
		{"same as the last update: nothing", []proto.Message{partnerDetails(), updated}, renamed, nil},
		{"back to the registered details: updated", []proto.Message{partnerDetails(), updated}, partnerDetails(),
			[]proto.Message{&pathwayv1.PartnerUpdated{Name: "Tees Friends", Description: "A befriending charity.", HsdsOrganizationId: "tees-friends",
				Contact: partnerDetails().GetContact(), RegistrationNumber: "1123456"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := partner.ReplayPartner("tees-friends", changes(tc.given...))
			got, err := p.Save(tc.save)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !equalEvents(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for i, e := range got {
				p.Apply(kernel.Change{Sequence: uint64(len(tc.given) + i + 1), Payload: e})
			}
			if !proto.Equal(p.Details(), tc.save) {
				t.Errorf("details after the events: got %v, want %v", p.Details(), tc.save)
			}
		})
	}
}

func TestPartnerReplay(t *testing.T) {
	p := partner.ReplayPartner("tees-friends", nil)
	if p.Exists() || p.Version() != 0 || p.ID() != "tees-friends" {
		t.Errorf("no events: got exists %v version %d id %q, want false 0 tees-friends", p.Exists(), p.Version(), p.ID())
	}
	p = partner.ReplayPartner("tees-friends", changes(partnerDetails(), &pathwayv1.PartnerUpdated{Name: "New name"}))
	if !p.Exists() || p.Version() != 2 || p.Details().GetName() != "New name" {
		t.Errorf("after an update: got exists %v version %d name %q, want true 2 %q", p.Exists(), p.Version(), p.Details().GetName(), "New name")
	}
}

func TestPartnerValidation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		change     func(d *pathwayv1.PartnerRegistered)
		wantFields []string
	}{
		{"valid", func(*pathwayv1.PartnerRegistered) {}, nil},
		{"no contact at all", func(d *pathwayv1.PartnerRegistered) { d.Contact = nil }, nil},
		{"no name", func(d *pathwayv1.PartnerRegistered) { d.Name = "" }, []string{"name"}},
		{"blank name", func(d *pathwayv1.PartnerRegistered) { d.Name = "   " }, []string{"name"}},
		{"name too long", func(d *pathwayv1.PartnerRegistered) { d.Name = strings.Repeat("n", 201) }, []string{"name"}},
		{"description too long", func(d *pathwayv1.PartnerRegistered) { d.Description = strings.Repeat("d", 4001) }, []string{"description"}},
		{"email without @", func(d *pathwayv1.PartnerRegistered) { d.Contact.Email = "hello" }, []string{"contact.email"}},
		{"url not http", func(d *pathwayv1.PartnerRegistered) { d.Contact.Url = "ftp://teesfriends.org.uk" }, []string{"contact.url"}},
		{"url without host", func(d *pathwayv1.PartnerRegistered) { d.Contact.Url = "https://" }, []string{"contact.url"}},
		{"phone too long", func(d *pathwayv1.PartnerRegistered) { d.Contact.Phone = strings.Repeat("1", 41) }, []string{"contact"}},
		{"a line break in the name", func(d *pathwayv1.PartnerRegistered) { d.Name = "Tees\nFriends" }, []string{"name"}},
		{"a description over lines", func(d *pathwayv1.PartnerRegistered) { d.Description = "Befriending.\r\n\tWeekly." }, nil},
		{"hidden characters in every text field", func(d *pathwayv1.PartnerRegistered) {
			d.Name, d.Description, d.RegistrationNumber = "Tees\u202eFriends", "A\x00charity", "11\u200b23"
			d.Contact.Name, d.Contact.Phone = "Jo\u2066", "01642\ufeff000111"
		}, []string{"name", "description", "registration_number", "contact.name", "contact.phone"}},
		{"every field bad", func(d *pathwayv1.PartnerRegistered) {
			d.Name, d.Description = "", strings.Repeat("d", 4001)
			d.Contact = &pathwayv1.ContactPoint{Email: "hello", Url: "teesfriends.org.uk", Name: strings.Repeat("n", 201)}
		}, []string{"name", "description", "contact.email", "contact.url", "contact"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := partnerDetails()
			tc.change(d)
			if got := fieldNames(partner.ValidatePartner(d)); !slices.Equal(got, tc.wantFields) {
				t.Errorf("ValidatePartner: got fields %v, want %v", got, tc.wantFields)
			}
			for _, given := range [][]proto.Message{nil, {partnerDetails()}} {
				evs, err := partner.ReplayPartner("tees-friends", changes(given...)).Save(d)
				checkInvalid(t, fmt.Sprintf("Save after %d events", len(given)), evs, err, tc.wantFields)
			}
		})
	}
}

func serviceDetails() *pathwayv1.ServiceDetails {
	return &pathwayv1.ServiceDetails{
		PartnerId: "tees-friends", Name: "Thursday Club", Description: "A weekly drop-in.",
		Needs:         []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS},
		TaxonomyTerms: []string{"Befriending"},
		Eligibility:   &pathwayv1.Eligibility{MinAge: 18, MaxAge: 99, PostcodeDistricts: []string{"TS1", "TS", "TS10", "W1A"}},
		Locations:     []*pathwayv1.Location{{Name: "Central Library", Postcode: "ts1 3ba", Latitude: 54.57, Longitude: -1.23}},
		Contact:       &pathwayv1.ContactPoint{Email: "jo@teesfriends.org.uk"},
		HsdsServiceId: "tees-svc-0001",
	}
}

func TestServiceSave(t *testing.T) {
	renamed := serviceDetails()
	renamed.Name = "Thursday Friends Club"
	moved := serviceDetails()
	moved.PartnerId = "other-org"
	registered := &pathwayv1.ServiceRegistered{Details: serviceDetails(), CapacityStatus: waitlist}
	for _, tc := range []struct {
		name         string
		given        []proto.Message
		save         *pathwayv1.ServiceDetails
		capacity     pathwayv1.CapacityStatus
		want         []proto.Message
		wantErr      error
		wantCapacity pathwayv1.CapacityStatus
	}{
		{"new, capacity unspecified: registered with capacity", nil, serviceDetails(), unknownCp,
			[]proto.Message{&pathwayv1.ServiceRegistered{Details: serviceDetails(), CapacityStatus: capacity}}, nil, capacity},
		{"new with a waitlist: registered with it", nil, serviceDetails(), waitlist,
			[]proto.Message{registered}, nil, waitlist},
		{"same details: nothing", []proto.Message{registered}, serviceDetails(), unknownCp, nil, nil, waitlist},
		{"same details, another capacity: nothing (capacity changes apart)", []proto.Message{registered}, serviceDetails(), noCap, nil, nil, waitlist},
		{"changed: updated", []proto.Message{registered}, renamed, unknownCp,
			[]proto.Message{&pathwayv1.ServiceUpdated{Details: renamed}}, nil, waitlist},
		{"same as the last update: nothing", []proto.Message{registered, &pathwayv1.ServiceUpdated{Details: renamed}}, renamed, unknownCp, nil, nil, waitlist},
		{"to another partner: conflict", []proto.Message{registered}, moved, unknownCp, nil, partner.ErrConflict, waitlist},
		{"to another partner after an update: conflict", []proto.Message{registered, &pathwayv1.ServiceUpdated{Details: renamed}}, moved, unknownCp, nil, partner.ErrConflict, waitlist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partner.ReplayService("svc-1", changes(tc.given...))
			got, err := s.Save(tc.save, tc.capacity)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if !equalEvents(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if err != nil {
				return
			}
			for i, e := range got {
				s.Apply(kernel.Change{Sequence: uint64(len(tc.given) + i + 1), Payload: e})
			}
			if !proto.Equal(s.Details(), tc.save) {
				t.Errorf("details after the events: got %v, want %v", s.Details(), tc.save)
			}
			if s.Capacity() != tc.wantCapacity {
				t.Errorf("capacity after the events: got %v, want %v", s.Capacity(), tc.wantCapacity)
			}
			if s.PartnerID() != "tees-friends" {
				t.Errorf("partner: got %q, want tees-friends", s.PartnerID())
			}
		})
	}
}

func TestServiceValidation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		change     func(d *pathwayv1.ServiceDetails)
		wantFields []string
	}{
		{"valid", func(*pathwayv1.ServiceDetails) {}, nil},
		{"no age bounds", func(d *pathwayv1.ServiceDetails) { d.Eligibility = nil }, nil},
		{"a minimum age only", func(d *pathwayv1.ServiceDetails) { d.Eligibility.MinAge, d.Eligibility.MaxAge = 65, 0 }, nil},
		{"no partner", func(d *pathwayv1.ServiceDetails) { d.PartnerId = "" }, []string{"partner_id"}},
		{"partner id with a dot", func(d *pathwayv1.ServiceDetails) { d.PartnerId = "tees.friends" }, []string{"partner_id"}},
		{"partner id with a space", func(d *pathwayv1.ServiceDetails) { d.PartnerId = "tees friends" }, []string{"partner_id"}},
		{"partner id too long", func(d *pathwayv1.ServiceDetails) { d.PartnerId = strings.Repeat("p", 65) }, []string{"partner_id"}},
		{"no name", func(d *pathwayv1.ServiceDetails) { d.Name = " " }, []string{"name"}},
		{"description too long", func(d *pathwayv1.ServiceDetails) { d.Description = strings.Repeat("d", 4001) }, []string{"description"}},
		{"no needs", func(d *pathwayv1.ServiceDetails) { d.Needs = nil }, []string{"needs"}},
		{"an unspecified need", func(d *pathwayv1.ServiceDetails) {
			d.Needs = []pathwayv1.Need{pathwayv1.Need_NEED_LONELINESS, pathwayv1.Need_NEED_UNSPECIFIED}
		}, []string{"needs[1]"}},
		{"51 taxonomy terms", func(d *pathwayv1.ServiceDetails) { d.TaxonomyTerms = make([]string, 51) }, []string{"taxonomy_terms"}},
		{"min age above max age", func(d *pathwayv1.ServiceDetails) { d.Eligibility.MinAge, d.Eligibility.MaxAge = 65, 18 }, []string{"eligibility.min_age"}},
		{"max age above 130", func(d *pathwayv1.ServiceDetails) { d.Eligibility.MaxAge = 131 }, []string{"eligibility.max_age"}},
		{"a lower-case district", func(d *pathwayv1.ServiceDetails) { d.Eligibility.PostcodeDistricts = []string{"TS1", "ts2"} }, []string{"eligibility.postcode_districts[1]"}},
		{"a full postcode as a district", func(d *pathwayv1.ServiceDetails) { d.Eligibility.PostcodeDistricts = []string{"TS1 3BA"} }, []string{"eligibility.postcode_districts[0]"}},
		{"a bad location postcode", func(d *pathwayv1.ServiceDetails) { d.Locations[0].Postcode = "TS1" }, []string{"locations[0].postcode"}},
		{"a latitude out of range", func(d *pathwayv1.ServiceDetails) { d.Locations[0].Latitude = -91 }, []string{"locations[0].latitude"}},
		{"a longitude out of range", func(d *pathwayv1.ServiceDetails) { d.Locations[0].Longitude = 181 }, []string{"locations[0].longitude"}},
		{"a bad contact email", func(d *pathwayv1.ServiceDetails) { d.Contact.Email = "jo" }, []string{"contact.email"}},
		{"a description and an address over lines", func(d *pathwayv1.ServiceDetails) {
			d.Description, d.Locations[0].Address = "Weekly.\nThursdays.", "1 High Street\nTown"
		}, nil},
		{"hidden characters in every text field", func(d *pathwayv1.ServiceDetails) {
			d.Name, d.Description, d.TaxonomyTerms = "Thursday\u202eClub", "weekly\x1b[0m", []string{"Befriending", "Walk\u200bing"}
			d.HsdsServiceId, d.Eligibility.Description = "tees\u2069svc", "adults\x00"
			d.Locations[0].Name, d.Locations[0].Address = "Central\nLibrary", "\ufeff1 High Street"
			d.Contact.Email = "jo\u200d@teesfriends.org.uk"
		}, []string{"name", "description", "taxonomy_terms[1]", "hsds_service_id", "eligibility.description",
			"locations[0].name", "locations[0].address", "contact.email"}},
		{"every field bad", func(d *pathwayv1.ServiceDetails) {
			d.PartnerId, d.Name, d.Description, d.Needs = "bad id", "", strings.Repeat("d", 4001), nil
			d.TaxonomyTerms = make([]string, 51)
			d.Eligibility = &pathwayv1.Eligibility{MinAge: 140, MaxAge: 131, PostcodeDistricts: []string{"123"}}
			d.Locations = append(d.Locations, &pathwayv1.Location{Postcode: "nowhere", Latitude: 100})
			d.Contact = &pathwayv1.ContactPoint{Email: "jo", Url: "mailto:jo@example.org"}
		}, []string{"partner_id", "name", "description", "needs", "taxonomy_terms", "eligibility.min_age", "eligibility.max_age",
			"eligibility.postcode_districts[0]", "locations[1].postcode", "locations[1].latitude", "contact.email", "contact.url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := serviceDetails()
			tc.change(d)
			if got := fieldNames(partner.ValidateService(d)); !slices.Equal(got, tc.wantFields) {
				t.Errorf("ValidateService: got fields %v, want %v", got, tc.wantFields)
			}
			for _, given := range [][]proto.Message{nil, {&pathwayv1.ServiceRegistered{Details: serviceDetails(), CapacityStatus: capacity}}} {
				evs, err := partner.ReplayService("svc-1", changes(given...)).Save(d, capacity)
				checkInvalid(t, fmt.Sprintf("Save after %d events", len(given)), evs, err, tc.wantFields)
			}
		})
	}
}

func TestChangeCapacity(t *testing.T) {
	reg := &pathwayv1.ServiceRegistered{Details: serviceDetails(), CapacityStatus: capacity}
	for _, tc := range []struct {
		name       string
		given      []proto.Message
		to         pathwayv1.CapacityStatus
		note       string
		want       []proto.Message
		wantErr    error
		wantFields []string
	}{
		{"capacity to no capacity", []proto.Message{reg}, noCap, "full until May", []proto.Message{
			&pathwayv1.ServiceCapacityChanged{Status: noCap, PreviousStatus: capacity, Note: "full until May"}}, nil, nil},
		{"no capacity to a waitlist", []proto.Message{reg, &pathwayv1.ServiceCapacityChanged{Status: noCap}}, waitlist, "", []proto.Message{
			&pathwayv1.ServiceCapacityChanged{Status: waitlist, PreviousStatus: noCap}}, nil, nil},
		{"to additional assessment", []proto.Message{reg}, assess, "", []proto.Message{
			&pathwayv1.ServiceCapacityChanged{Status: assess, PreviousStatus: capacity}}, nil, nil},
		{"kept through an update", []proto.Message{reg, &pathwayv1.ServiceCapacityChanged{Status: waitlist}, &pathwayv1.ServiceUpdated{Details: serviceDetails()}}, capacity, "", []proto.Message{
			&pathwayv1.ServiceCapacityChanged{Status: capacity, PreviousStatus: waitlist}}, nil, nil},
		{"unchanged: nothing", []proto.Message{reg}, capacity, "still open", nil, nil, nil},
		{"unchanged after a change: nothing", []proto.Message{reg, &pathwayv1.ServiceCapacityChanged{Status: noCap}}, noCap, "", nil, nil, nil},
		{"unspecified: invalid", []proto.Message{reg}, unknownCp, "", nil, partner.ErrInvalid, []string{"status"}},
		{"a note too long: invalid", []proto.Message{reg}, noCap, strings.Repeat("n", 2001), nil, partner.ErrInvalid, []string{"note"}},
		{"no such service: conflict", nil, noCap, "", nil, partner.ErrConflict, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partner.ReplayService("svc-1", changes(tc.given...))
			got, err := s.ChangeCapacity(tc.to, tc.note)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			if tc.wantFields != nil {
				checkInvalid(t, "ChangeCapacity", got, err, tc.wantFields)
			}
			if !equalEvents(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if err != nil {
				return
			}
			for i, e := range got {
				s.Apply(kernel.Change{Sequence: uint64(len(tc.given) + i + 1), Payload: e})
			}
			if s.Capacity() != tc.to {
				t.Errorf("capacity after the events: got %v, want %v", s.Capacity(), tc.to)
			}
		})
	}
}

func TestCapacityNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		want pathwayv1.CapacityStatus
		ok   bool
	}{
		{"capacity", capacity, true},
		{"no-capacity", noCap, true},
		{"waitlist", waitlist, true},
		{"additional-assessment-required", assess, true},
		{"No-Capacity", unknownCp, false},
		{"", unknownCp, false},
	} {
		t.Run(fmt.Sprintf("%q", tc.name), func(t *testing.T) {
			got, ok := partner.ParseCapacity(tc.name)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("ParseCapacity: got %v %v, want %v %v", got, ok, tc.want, tc.ok)
			}
			if ok {
				if back := partner.CapacityName(got); back != tc.name {
					t.Errorf("CapacityName(%v): got %q, want %q", got, back, tc.name)
				}
				if !strings.Contains(partner.CapacityNames, tc.name) {
					t.Errorf("CapacityNames: got %q, want it to list %q", partner.CapacityNames, tc.name)
				}
			}
		})
	}
	if got := partner.CapacityName(unknownCp); got != "unknown" {
		t.Errorf("CapacityName(unspecified): got %q, want unknown", got)
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"tees-friends", true},
		{"cab_tees", true},
		{"ORG123", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"org.1", false},
		{"org 1", false},
		{"org/1", false},
		{"orgé", false},
	} {
		t.Run(fmt.Sprintf("%q", tc.id), func(t *testing.T) {
			if got := partner.ValidID(tc.id); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// equalEvents reports whether got and want are the same events in order.
func equalEvents(got, want []proto.Message) bool {
	return slices.EqualFunc(got, want, proto.Equal)
}

func fieldNames(errs []kernel.FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

// checkInvalid checks that a command with wantFields invalid returned an
// kernel.Invalid error listing exactly those fields, each named in its text, and
// no events; with no wantFields, that it succeeded.
func checkInvalid(tb testing.TB, what string, evs []proto.Message, err error, wantFields []string) {
	tb.Helper()
	if len(wantFields) == 0 {
		if err != nil {
			tb.Errorf("%s: got error %v, want none", what, err)
		}
		return
	}
	var inv *kernel.Error
	if !errors.As(err, &inv) || inv.Kind != kernel.Invalid {
		tb.Errorf("%s: got error %v (%T), want a kernel.Invalid error", what, err, err)
		return
	}
	if !errors.Is(err, partner.ErrInvalid) {
		tb.Errorf("%s: errors.Is(err, ErrInvalid): got false, want true", what)
	}
	if got := fieldNames(inv.Fields); !slices.Equal(got, wantFields) {
		tb.Errorf("%s: got fields %v, want %v", what, got, wantFields)
	}
	for _, f := range wantFields {
		if !strings.Contains(err.Error(), f+": ") {
			tb.Errorf("%s: got message %q, want it to name %q", what, err.Error(), f)
		}
	}
	if evs != nil {
		tb.Errorf("%s: got events %v with the error, want none", what, evs)
	}
}
