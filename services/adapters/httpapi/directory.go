package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/directory"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

// directoryEditor keeps the VCSE directory: partners, their services, and
// HSDS imports.
type directoryEditor interface {
	SavePartner(ctx context.Context, id string, d *pathwayv1.PartnerRegistered, cmd events.Command) (directory.Saved, error)
	SaveService(ctx context.Context, id string, d *pathwayv1.ServiceDetails, c pathwayv1.CapacityStatus, cmd events.Command) (directory.Saved, error)
	Import(ctx context.Context, records []partner.Record, cmd events.Command, progress func(done, total int)) (directory.ImportReport, error)
	RetireService(ctx context.Context, id, status, reason string, cmd events.Command) (uint64, error)
	ReinstateService(ctx context.Context, id, reason string, cmd events.Command) (uint64, error)
}

var _ directoryEditor = (*directory.Service)(nil)

// MaxImportBytes is the largest HSDS import body accepted.
const MaxImportBytes = 8 << 20

type contactBody struct {
	Name   string             `json:"name"`
	Email  string             `json:"email"`
	Phone  string             `json:"phone"`
	URL    string             `json:"url"`
	Phones []*pathwayv1.Phone `json:"phones"`
}

func (c *contactBody) proto() *pathwayv1.ContactPoint {
	if c == nil {
		return nil
	}
	return &pathwayv1.ContactPoint{Name: c.Name, Email: c.Email, Phone: c.Phone, Url: c.URL, Phones: c.Phones}
}

// normalisePhones brings each phone number of ps to E.164 (with its
// extension), listing those that are not phone numbers under field.
func normalisePhones(field string, ps []*pathwayv1.Phone) []kernel.FieldError {
	var errs []kernel.FieldError
	for i, p := range ps {
		num, ext, reason := partner.NormalisePhone(p.GetNumber(), p.GetExtension())
		if reason != "" {
			errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("%s[%d].number", field, i), Reason: reason})
			continue
		}
		p.Number, p.Extension = num, ext
	}
	return errs
}

type partnerBody struct {
	ID                 string                              `json:"id"`
	Name               string                              `json:"name"`
	Description        string                              `json:"description"`
	Contact            *contactBody                        `json:"contact"`
	RegistrationNumber string                              `json:"registration_number"`
	Identifiers        []*pathwayv1.OrganizationIdentifier `json:"identifiers"`
}

// savePartner handles POST /v1/directory/partners.
func (a *api) savePartner() http.HandlerFunc {
	check := func(b *partnerBody) []kernel.FieldError {
		if b.Contact == nil {
			return nil
		}
		return normalisePhones("contact.phones", b.Contact.Phones)
	}
	return command(a, keyPerRoute, check, func(r *http.Request, b *partnerBody, cmd events.Command) (reply, error) {
		return savedReply(a.directory.SavePartner(r.Context(), b.ID, &pathwayv1.PartnerRegistered{Name: b.Name, Description: b.Description,
			Contact: b.Contact.proto(), RegistrationNumber: b.RegistrationNumber, Identifiers: b.Identifiers}, cmd))
	})
}

// savedReply answers a directory save.
func savedReply(s directory.Saved, err error) (reply, error) {
	if err != nil {
		return reply{}, err
	}
	return reply{status: createdStatus(s.Created), body: map[string]any{"id": s.ID, "sequence": s.Sequence, "created": s.Created, "changed": s.Changed}}, nil
}

type serviceBody struct {
	PartnerID     string       `json:"partner_id"`
	Name          string       `json:"name"`
	Description   string       `json:"description"`
	Needs         []string     `json:"needs"`
	TaxonomyTerms []string     `json:"taxonomy_terms"`
	MinAge        int          `json:"min_age"`
	MaxAge        int          `json:"max_age"`
	Districts     []string     `json:"postcode_districts"`
	Eligibility   string       `json:"eligibility_description"`
	Locations     []locBody    `json:"locations"`
	Contact       *contactBody `json:"contact"`
	Capacity      string       `json:"capacity_status"`
	// What link workers use, as Open Referral UK names it (see
	// ServiceDetails): the same fields an import keeps.
	AlternateName          string                  `json:"alternate_name"`
	Schedules              []*pathwayv1.Schedule   `json:"schedules"`
	Languages              []*pathwayv1.Language   `json:"languages"`
	FeesDescription        string                  `json:"fees_description"`
	CostOptions            []*pathwayv1.CostOption `json:"cost_options"`
	ApplicationProcess     string                  `json:"application_process"`
	InterpretationServices string                  `json:"interpretation_services"`
	WaitTime               string                  `json:"wait_time"`
	Alert                  string                  `json:"alert"`
	ServiceAreas           []string                `json:"service_areas"`
	Contacts               []*pathwayv1.Contact    `json:"contacts"`
	RequiredDocuments      []string                `json:"required_documents"`
	// details and capacity are what the body asks for, made by check.
	details  *pathwayv1.ServiceDetails
	capacity pathwayv1.CapacityStatus
}

type locBody struct {
	Name           string                     `json:"name"`
	Address        string                     `json:"address"`
	Address2       string                     `json:"address_2"`
	City           string                     `json:"city"`
	Region         string                     `json:"region"`
	Postcode       string                     `json:"postcode"`
	Country        string                     `json:"country"`
	Latitude       float64                    `json:"latitude"`
	Longitude      float64                    `json:"longitude"`
	Description    string                     `json:"description"`
	LocationType   string                     `json:"location_type"`
	Transportation string                     `json:"transportation"`
	PostalAddress  *pathwayv1.Address         `json:"postal_address"`
	Accessibility  []*pathwayv1.Accessibility `json:"accessibility"`
	Schedules      []*pathwayv1.Schedule      `json:"schedules"`
	Languages      []*pathwayv1.Language      `json:"languages"`
	Phones         []*pathwayv1.Phone         `json:"phones"`
}

// check checks a new service's body (update: an existing one's).
func (b *serviceBody) check(update bool) []kernel.FieldError {
	var errs []kernel.FieldError
	d := &pathwayv1.ServiceDetails{PartnerId: b.PartnerID, Name: b.Name, Description: b.Description, TaxonomyTerms: b.TaxonomyTerms,
		Contact: b.Contact.proto(), Eligibility: &pathwayv1.Eligibility{Description: b.Eligibility},
		AlternateName: b.AlternateName, Schedules: b.Schedules, Languages: b.Languages, FeesDescription: b.FeesDescription, CostOptions: b.CostOptions,
		ApplicationProcess: b.ApplicationProcess, InterpretationServices: b.InterpretationServices, WaitTime: b.WaitTime, Alert: b.Alert,
		ServiceAreas: b.ServiceAreas, Contacts: b.Contacts, RequiredDocuments: b.RequiredDocuments}
	errs = append(errs, normalisePhones("contact.phones", d.GetContact().GetPhones())...)
	for i, c := range b.Contacts {
		errs = append(errs, normalisePhones(fmt.Sprintf("contacts[%d].phones", i), c.GetPhones())...)
	}
	for i, n := range b.Needs {
		v, ok := pathwayv1.Need_value["NEED_"+strings.ToUpper(n)]
		if !ok || v == 0 {
			errs = append(errs, kernel.FieldError{Field: fmt.Sprintf("needs[%d]", i), Reason: "must be one of " + strings.Join(referral.NeedNames(), ", ")})
			continue
		}
		d.Needs = append(d.Needs, pathwayv1.Need(v))
	}
	if b.MinAge < 0 || b.MaxAge < 0 || b.MinAge > 130 || b.MaxAge > 130 {
		errs = append(errs, kernel.FieldError{Field: "min_age", Reason: "ages must be 0 to 130"})
	} else {
		d.Eligibility.MinAge, d.Eligibility.MaxAge = uint32(b.MinAge), uint32(b.MaxAge)
	}
	for _, pd := range b.Districts {
		d.Eligibility.PostcodeDistricts = append(d.Eligibility.PostcodeDistricts, strings.ToUpper(strings.TrimSpace(pd)))
	}
	for i, l := range b.Locations {
		pc := l.Postcode
		if pc != "" {
			pc = referral.NormalisePostcode(pc)
		}
		if pa := l.PostalAddress; pa != nil && pa.Postcode != "" {
			pa.Postcode = referral.NormalisePostcode(pa.Postcode)
		}
		errs = append(errs, normalisePhones(fmt.Sprintf("locations[%d].phones", i), l.Phones)...)
		d.Locations = append(d.Locations, &pathwayv1.Location{Name: l.Name, Address: l.Address, Address_2: l.Address2, City: l.City, Region: l.Region,
			Postcode: pc, Country: strings.ToUpper(l.Country), Latitude: l.Latitude, Longitude: l.Longitude, Description: l.Description,
			LocationType: l.LocationType, Transportation: l.Transportation, PostalAddress: l.PostalAddress, Accessibility: l.Accessibility,
			Schedules: l.Schedules, Languages: l.Languages, Phones: l.Phones})
	}
	c := pathwayv1.CapacityStatus_CAPACITY_STATUS_UNSPECIFIED
	if b.Capacity != "" {
		var ok bool
		if c, ok = partner.ParseCapacity(b.Capacity); !ok {
			errs = append(errs, kernel.FieldError{Field: "capacity_status", Reason: "must be " + partner.CapacityNames})
		}
	}
	// Every invalid field at once: the domain's checks too, but not a
	// second error for a field (or a part of one) already named above;
	// the domain's errors of a whole that holds it (a location) stand.
	for _, fe := range partner.ValidateService(d) {
		if !slices.ContainsFunc(errs, func(e kernel.FieldError) bool {
			rest, ok := strings.CutPrefix(fe.Field, e.Field)
			return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
		}) {
			errs = append(errs, fe)
		}
	}
	if update && b.Capacity != "" {
		errs = append(errs, kernel.FieldError{Field: "capacity_status", Reason: "is set by the partner (PUT /v1/partner/services/{id}/capacity), not with an update"})
	}
	b.details, b.capacity = d, c
	return errs
}

// createService handles POST /v1/directory/services.
func (a *api) createService() http.HandlerFunc {
	return a.saveService(false)
}

// updateService handles PUT /v1/directory/services/{id}.
func (a *api) updateService() http.HandlerFunc {
	save := a.saveService(true)
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := uuid.Parse(r.PathValue("id")); err != nil {
			a.writeError(w, r, events.ErrNotFound)
			return
		}
		save(w, r)
	}
}

// retireBody is checked by the domain (partner.Service.Retire).
type retireBody struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// retireService handles POST /v1/directory/services/{id}/retire: the
// service leaves the directory (a handoff to it is refused with 409) as
// when its Open Referral UK record turns inactive or defunct.
func (a *api) retireService() http.HandlerFunc {
	return command(a, keyPerRoute, nil, func(r *http.Request, b *retireBody, cmd events.Command) (reply, error) {
		id := r.PathValue("id")
		if _, err := uuid.Parse(id); err != nil {
			return reply{}, events.ErrNotFound
		}
		seq, err := a.directory.RetireService(r.Context(), id, b.Status, b.Reason, cmd)
		return reply{status: http.StatusOK, body: map[string]any{"id": id, "retired": b.Status, "sequence": seq}}, err
	})
}

type reinstateBody struct {
	Reason string `json:"reason"`
}

func (*reinstateBody) optional() {}

// reinstateService handles POST /v1/directory/services/{id}/reinstate: a
// retired service returns to the directory.
func (a *api) reinstateService() http.HandlerFunc {
	return command(a, keyPerRoute, nil, func(r *http.Request, b *reinstateBody, cmd events.Command) (reply, error) {
		id := r.PathValue("id")
		if _, err := uuid.Parse(id); err != nil {
			return reply{}, events.ErrNotFound
		}
		seq, err := a.directory.ReinstateService(r.Context(), id, b.Reason, cmd)
		return reply{status: http.StatusOK, body: map[string]any{"id": id, "retired": "", "sequence": seq}}, err
	})
}

// saveService creates a service, its id derived from the key when one is
// sent, or updates the one in the path.
func (a *api) saveService(update bool) http.HandlerFunc {
	check := func(b *serviceBody) []kernel.FieldError { return b.check(update) }
	return command(a, keyPerRoute, check, func(r *http.Request, b *serviceBody, cmd events.Command) (reply, error) {
		id := r.PathValue("id")
		if !update {
			id = uuid.Must(uuid.NewV7()).String()
			if cmd.IdempotencyKey != "" {
				id = uuid.NewSHA1(uuid.NameSpaceOID, []byte("service\x00"+cmd.IdempotencyKey)).String()
			}
		} else {
			svc, err := directory.LoadService(r.Context(), a.store, id)
			if err != nil {
				return reply{}, err
			}
			if !svc.Exists() {
				return reply{}, events.ErrNotFound
			}
		}
		return savedReply(a.directory.SaveService(r.Context(), id, b.details, b.capacity, cmd))
	})
}

// importDirectory handles POST /v1/directory/import: Open Referral UK /
// HSDS 3.0 in any shape the standard publishes (partner.ParseHSDS). The
// answer reports each record: created, updated, unchanged, retired,
// reinstated or skipped with every reason at its JSON path, and the parts
// of a record left out.
func (a *api) importDirectory(w http.ResponseWriter, r *http.Request) {
	if !hasMediaType(r, jsonType) {
		unsupportedMediaType(w)
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxImportBytes))
	if err != nil {
		WriteProblem(w, Problem{Type: problemBase + "too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("an import must be at most %d bytes; split the file", MaxImportBytes)})
		return
	}
	if err := checkJSONText(data); err != nil {
		WriteProblem(w, Problem{Type: problemBase + "invalid-json", Title: "Invalid JSON", Status: http.StatusBadRequest, Detail: err.Error()})
		return
	}
	recs, err := partner.ParseHSDS(data)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.execute(w, r, keyPerRoute, func(cmd events.Command) (reply, error) {
		rep, err := a.directory.Import(r.Context(), recs, cmd, nil)
		return reply{status: http.StatusOK, body: rep}, err
	})
}

// searchServices handles GET /v1/directory/services?need=&postcode=&text=&age=.
func (a *api) searchServices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs []kernel.FieldError
	query := partners.Query{Need: q.Get("need"), Text: q.Get("text")}
	if query.Need != "" && !slices.Contains(referral.NeedNames(), query.Need) {
		errs = append(errs, kernel.FieldError{Field: "need", Reason: "must be one of " + strings.Join(referral.NeedNames(), ", ")})
	}
	if pc := q.Get("postcode"); pc != "" {
		n := referral.NormalisePostcode(pc)
		if referral.ValidPostcode(n) {
			query.District, query.Postcode = referral.PostcodeDistrict(n), n
		} else if d := strings.ToUpper(strings.TrimSpace(pc)); len(d) <= 4 && d != "" && referral.ValidPostcode(referral.NormalisePostcode(d+" 1AA")) {
			query.District = d
		} else {
			errs = append(errs, kernel.FieldError{Field: "postcode", Reason: "must be a UK postcode or postcode district"})
		}
	}
	if v := q.Get("age"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 130 {
			errs = append(errs, kernel.FieldError{Field: "age", Reason: "must be 0 to 130"})
		}
		query.Age = n
	}
	if len(query.Text) > 200 {
		errs = append(errs, kernel.FieldError{Field: "text", Reason: "must be at most 200 characters"})
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	a.readView(w, r, a.partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		all := p.(*partners.Partners).Search(query)
		return map[string]any{"sequence": seq, "total": len(all), "limit": limit, "offset": offset, "services": window(all, limit, offset)}
	})
}

// getService handles GET /v1/directory/services/{id}.
func (a *api) getService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.readView(w, r, a.partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		s, ok := p.(*partners.Partners).Services[id]
		if !ok {
			return kernel.Errorf(kernel.NotFound, "no such service")
		}
		return map[string]any{"sequence": seq, "service": s}
	})
}
