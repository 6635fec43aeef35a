package httpapi

import (
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
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/vcse"
)

const MaxImportBytes = 8 << 20

type contactBody struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
	URL   string `json:"url"`
}

func (c *contactBody) proto() *pathwayv1.ContactPoint {
	if c == nil {
		return nil
	}
	return &pathwayv1.ContactPoint{Name: c.Name, Email: c.Email, Phone: c.Phone, Url: c.URL}
}

// savePartner handles POST /v1/directory/partners.
func (a *api) savePartner(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID                 string       `json:"id"`
		Name               string       `json:"name"`
		Description        string       `json:"description"`
		Contact            *contactBody `json:"contact"`
		RegistrationNumber string       `json:"registration_number"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	cmd, ok := a.commandOrProblem(w, r)
	if !ok {
		return
	}
	saved, err := a.vcse.Service.SavePartner(r.Context(), body.ID, &pathwayv1.PartnerRegistered{Name: body.Name, Description: body.Description,
		Contact: body.Contact.proto(), RegistrationNumber: body.RegistrationNumber}, cmd)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, savedStatus(saved), map[string]any{"id": saved.ID, "sequence": saved.Sequence, "created": saved.Created, "changed": saved.Changed})
}

func savedStatus(s vcse.Saved) int {
	if s.Created {
		return http.StatusCreated
	}
	return http.StatusOK
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
}

type locBody struct {
	Name      string  `json:"name"`
	Address   string  `json:"address"`
	Postcode  string  `json:"postcode"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

func (b serviceBody) details() (*pathwayv1.ServiceDetails, pathwayv1.CapacityStatus, []kernel.FieldError) {
	var errs []kernel.FieldError
	d := &pathwayv1.ServiceDetails{PartnerId: b.PartnerID, Name: b.Name, Description: b.Description, TaxonomyTerms: b.TaxonomyTerms,
		Contact: b.Contact.proto(), Eligibility: &pathwayv1.Eligibility{Description: b.Eligibility}}
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
	for _, l := range b.Locations {
		pc := l.Postcode
		if pc != "" {
			pc = referral.NormalisePostcode(pc)
		}
		d.Locations = append(d.Locations, &pathwayv1.Location{Name: l.Name, Address: l.Address, Postcode: pc, Latitude: l.Latitude, Longitude: l.Longitude})
	}
	c := pathwayv1.CapacityStatus_CAPACITY_STATUS_UNSPECIFIED
	if b.Capacity != "" {
		var ok bool
		if c, ok = partner.ParseCapacity(b.Capacity); !ok {
			errs = append(errs, kernel.FieldError{Field: "capacity_status", Reason: "must be " + partner.CapacityNames})
		}
	}
	if len(errs) == 0 {
		errs = partner.ValidateService(d)
	}
	return d, c, errs
}

// createService handles POST /v1/directory/services.
func (a *api) createService(w http.ResponseWriter, r *http.Request) {
	a.saveService(w, r, "")
}

// updateService handles PUT /v1/directory/services/{id}.
func (a *api) updateService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		a.writeError(w, r, events.ErrNotFound)
		return
	}
	a.saveService(w, r, id)
}

func (a *api) saveService(w http.ResponseWriter, r *http.Request, id string) {
	var body serviceBody
	if !decodeJSON(w, r, &body) {
		return
	}
	d, c, errs := body.details()
	if id != "" && body.Capacity != "" {
		errs = append(errs, kernel.FieldError{Field: "capacity_status", Reason: "is set by the partner (PUT /v1/partner/services/{id}/capacity), not with an update"})
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	cmd, ok := a.commandOrProblem(w, r)
	if !ok {
		return
	}
	if id == "" {
		id = uuid.Must(uuid.NewV7()).String()
		if cmd.IdempotencyKey != "" {
			id = uuid.NewSHA1(uuid.NameSpaceOID, []byte("service\x00"+cmd.IdempotencyKey)).String()
		}
	} else {
		svc, err := vcse.LoadService(r.Context(), a.refs.Store, id)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if !svc.Exists() {
			a.writeError(w, r, events.ErrNotFound)
			return
		}
	}
	saved, err := a.vcse.Service.SaveService(r.Context(), id, d, c, cmd)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, savedStatus(saved), map[string]any{"id": saved.ID, "sequence": saved.Sequence, "created": saved.Created, "changed": saved.Changed})
}

// importDirectory handles POST /v1/directory/import: an HSDS 3.0 array of
// services or an Open Referral UK page.
func (a *api) importDirectory(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxImportBytes))
	if err != nil {
		WriteProblem(w, Problem{Type: problemBase + "too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("an import must be at most %d bytes; split the file", MaxImportBytes)})
		return
	}
	recs, err := partner.ParseHSDS(data)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	cmd, ok := a.commandOrProblem(w, r)
	if !ok {
		return
	}
	rep, err := a.vcse.Service.Import(r.Context(), recs, cmd, nil)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
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
			query.District = referral.PostcodeDistrict(n)
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
	a.readView(w, r, a.vcse.Partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		all := p.(*partners.Partners).Search(query)
		return map[string]any{"sequence": seq, "total": len(all), "limit": limit, "offset": offset, "services": window(all, limit, offset)}
	})
}

// getService handles GET /v1/directory/services/{id}.
func (a *api) getService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.readView(w, r, a.vcse.Partners, func() projections.Projection { return partners.New() }, func(p projections.Projection, seq uint64, now time.Time) any {
		s, ok := p.(*partners.Partners).Services[id]
		if !ok {
			return kernel.Errorf(kernel.NotFound, "no such service")
		}
		return map[string]any{"sequence": seq, "service": s}
	})
}
