// Package directory keeps pathway's directory of VCSE partners and their
// services: registering and updating them, their capacity signals, and
// the Open Referral UK (HSDS) import. Every change is an event in the
// log; the rules live in the domain's partner package.
package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"

	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/partner"
	"google.golang.org/protobuf/proto"
)

// Service runs the directory's commands. It is safe for concurrent use.
type Service struct {
	store *events.Store
}

// New returns the directory on store.
func New(store *events.Store) *Service { return &Service{store: store} }

// LoadPartner reads a partner from the log; a partner that does not exist
// is returned empty (Exists false).
func LoadPartner(ctx context.Context, store *events.Store, id string) (*partner.Partner, error) {
	return loadOrEmpty(ctx, store, aggregate.Partner, id)
}

// LoadService reads a service from the log; empty when it does not exist.
func LoadService(ctx context.Context, store *events.Store, id string) (*partner.Service, error) {
	return loadOrEmpty(ctx, store, aggregate.Service, id)
}

func loadOrEmpty[S any](ctx context.Context, store *events.Store, k events.Kind[S], id string) (S, error) {
	st, _, err := events.Get(ctx, store, k, id)
	if errors.Is(err, events.ErrNotFound) {
		return k.New(id), nil
	}
	return st, err
}

// Saved is the result of saving a directory entry.
type Saved struct {
	ID       string
	Sequence uint64
	// Created is true when the entry is new, Changed when it was updated;
	// neither when it was already as asked.
	Created, Changed bool
}

// save runs a directory command: save asks for the events from the
// loaded state, and registered is the event type that creates the entry.
// A retry answers as the original command did.
func save[S interface{ Exists() bool }](ctx context.Context, store *events.Store, k events.Kind[S], id string, cmd events.Command, registered proto.Message, decide func(S) ([]proto.Message, error)) (Saved, error) {
	res := Saved{ID: id}
	seq, err := store.Execute(ctx, cmd, func(tx *events.Tx) error {
		res = Saved{ID: id}
		st, err := events.Load(tx, k, id)
		var retry *events.Retry
		if errors.As(err, &retry) {
			res.Created, res.Changed = retry.Type == events.TypeOf(registered), retry.Type != events.TypeOf(registered)
		}
		if err != nil {
			return err
		}
		evs, err := decide(st)
		if len(evs) > 0 {
			res.Created, res.Changed = !st.Exists(), st.Exists()
		}
		tx.Emit(k.Aggregate(id), evs...)
		return err
	})
	res.Sequence = seq
	return res, err
}

// SavePartner registers partner id (its organisation id) or brings its
// details up to d. Errors: partner.ErrInvalid (a kernel.Invalid error listing the fields), or
// a storage error.
func (s *Service) SavePartner(ctx context.Context, id string, d *pathwayv1.PartnerRegistered, cmd events.Command) (Saved, error) {
	if !partner.ValidID(id) {
		return Saved{}, partner.ErrInvalid.WithFields(kernel.FieldError{Field: "id", Reason: "must be the organisation id: 1 to 64 letters, digits, - or _"})
	}
	d.HsdsOrganizationId = id
	return save(ctx, s.store, aggregate.Partner, id, cmd, &pathwayv1.PartnerRegistered{}, func(p *partner.Partner) ([]proto.Message, error) {
		return p.Save(d)
	})
}

// SaveService registers service id or brings its details up to d; a new
// service starts with capacity c (capacity when unspecified). The partner
// must exist. Errors: partner.ErrInvalid, partner.ErrConflict (the partner
// does not exist, or the service belongs to another), or a storage error.
func (s *Service) SaveService(ctx context.Context, id string, d *pathwayv1.ServiceDetails, c pathwayv1.CapacityStatus, cmd events.Command) (Saved, error) {
	if errs := partner.ValidateService(d); len(errs) > 0 {
		return Saved{}, partner.ErrInvalid.WithFields(errs...)
	}
	p, err := LoadPartner(ctx, s.store, d.GetPartnerId())
	if err != nil {
		return Saved{}, err
	}
	if !p.Exists() {
		return Saved{}, partner.ErrInvalid.WithFields(kernel.FieldError{Field: "partner_id", Reason: "no such partner; register the partner first"})
	}
	return save(ctx, s.store, aggregate.Service, id, cmd, &pathwayv1.ServiceRegistered{}, func(svc *partner.Service) ([]proto.Message, error) {
		return svc.Save(d, c)
	})
}

// RetireService takes service id out of the directory, as its directory
// marking it status ("inactive" or "defunct") does on an import: handoffs
// to it are refused from then on, and Open Referral UK shows its status.
// reason is an optional note. Nothing is written when it is already
// retired with that status. Errors: events.ErrNotFound, partner.ErrInvalid,
// or a storage error.
func (s *Service) RetireService(ctx context.Context, id, status, reason string, cmd events.Command) (uint64, error) {
	return s.changeService(ctx, id, cmd, func(svc *partner.Service) ([]proto.Message, error) { return svc.Retire(status, reason) })
}

// ReinstateService returns a retired service to the directory; nothing is
// written when it is not retired. Errors: events.ErrNotFound,
// partner.ErrInvalid, or a storage error.
func (s *Service) ReinstateService(ctx context.Context, id, reason string, cmd events.Command) (uint64, error) {
	return s.changeService(ctx, id, cmd, func(svc *partner.Service) ([]proto.Message, error) { return svc.Reinstate(reason) })
}

// changeService runs decide on existing service id.
func (s *Service) changeService(ctx context.Context, id string, cmd events.Command, decide func(*partner.Service) ([]proto.Message, error)) (uint64, error) {
	return events.Do(ctx, s.store, aggregate.Service, id, cmd, func(svc *partner.Service) ([]proto.Message, error) {
		if !svc.Exists() {
			return nil, events.ErrNotFound
		}
		return decide(svc)
	})
}

// SetCapacity records service id's capacity signal. When partnerID is not
// empty the service must belong to it (else events.ErrNotFound, so a
// partner cannot learn of another's services). Errors: events.ErrNotFound,
// partner.ErrInvalid, or a storage error.
func (s *Service) SetCapacity(ctx context.Context, id, partnerID string, c pathwayv1.CapacityStatus, note string, cmd events.Command) (uint64, error) {
	return s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
		svc, err := events.Load(tx, aggregate.Service, id)
		if svc != nil && (!svc.Exists() || (partnerID != "" && svc.PartnerID() != partnerID)) {
			return events.ErrNotFound
		}
		if err != nil {
			return err
		}
		evs, err := svc.ChangeCapacity(c, note)
		tx.Emit(aggregate.Service.Aggregate(id), evs...)
		return err
	})
}

// Import actions.
const (
	ActionCreated    = "created"
	ActionUpdated    = "updated"
	ActionUnchanged  = "unchanged"
	ActionRetired    = "retired"
	ActionReinstated = "reinstated"
	ActionSkipped    = "skipped"
)

// ImportResult is what an import did with one record.
type ImportResult struct {
	Index int `json:"index"`
	// Path is where the record is in the file, as a JSON path.
	Path      string `json:"path"`
	HSDSID    string `json:"hsds_id,omitempty"`
	ServiceID string `json:"service_id,omitempty"`
	PartnerID string `json:"partner_id,omitempty"`
	// Action is created, updated, unchanged, retired (the record marks
	// the service inactive or defunct), reinstated (active again after
	// being retired) or skipped. For an organization published without
	// services it is what happened to the partner.
	Action string `json:"action"`
	// Reason is every reason a record was skipped, in one line.
	Reason string `json:"reason,omitempty"`
	// Reasons are why the record was skipped, each at its JSON path.
	Reasons []partner.Problem `json:"reasons,omitempty"`
	// Dropped are parts of an imported record left out, each at its JSON
	// path with its reason (a location outside the UK, a phone number
	// that is not one).
	Dropped []partner.Problem `json:"dropped,omitempty"`
}

// ImportReport sums up an import.
type ImportReport struct {
	Created    int            `json:"created"`
	Updated    int            `json:"updated"`
	Unchanged  int            `json:"unchanged"`
	Retired    int            `json:"retired"`
	Reinstated int            `json:"reinstated"`
	Skipped    int            `json:"skipped"`
	Partners   int            `json:"partners_created"`
	Results    []ImportResult `json:"results"`
	// Sequence is the log position after the import.
	Sequence uint64 `json:"sequence"`
}

// Import saves the partners and services of Open Referral UK records
// (partner.ParseHSDS). It is idempotent: a record already in the
// directory as it is changes nothing (unchanged); one that changed is
// updated. A record marked inactive or defunct retires its service
// (ServiceRetired; one not in the directory is skipped, saying so), and
// an active record of a retired service reinstates it. Records that
// cannot be imported are skipped with every reason; progress, when not
// nil, is called after each record. It stops at the first storage error.
func (s *Service) Import(ctx context.Context, records []partner.Record, cmd events.Command, progress func(done, total int)) (ImportReport, error) {
	rep := ImportReport{Results: make([]ImportResult, 0, len(records))}
	seenPartner := map[string]bool{}
	var last uint64
	skip := func(res *ImportResult, path string, err error) {
		msg := err.Error()
		if ke, ok := errors.AsType[*kernel.Error](err); ok && len(ke.Fields) > 0 {
			for _, f := range ke.Fields {
				res.Reasons = append(res.Reasons, partner.Problem{Path: path + "." + f.Field, Reason: f.Reason})
			}
		} else {
			if ok {
				msg = ke.Message
			}
			res.Reasons = append(res.Reasons, partner.Problem{Path: path, Reason: msg})
		}
		res.Action = ActionSkipped
	}
	for i, rec := range records {
		res := ImportResult{Index: rec.Index, Path: rec.Path, HSDSID: rec.HSDSID, ServiceID: rec.ServiceID,
			PartnerID: cmp.Or(rec.PartnerID, rec.Partner.GetHsdsOrganizationId(), rec.Service.GetPartnerId()), Reasons: rec.Reasons, Dropped: rec.Dropped}
		if rec.Skip != "" {
			res.Action, res.ServiceID = ActionSkipped, ""
		}
		// A service retired upstream that pathway never had is not added,
		// nor its organization for it.
		if res.Action == "" && rec.Retire != "" {
			svc, err := LoadService(ctx, s.store, rec.ServiceID)
			if err != nil {
				return rep, fmt.Errorf("import record %d: %w", rec.Index, err)
			}
			if !svc.Exists() {
				res.Action, res.ServiceID = ActionSkipped, ""
				res.Reasons = append(res.Reasons, partner.Problem{Path: rec.Path + ".status", Reason: "is " + rec.Retire + " and the service is not in the directory: nothing to retire"})
			}
		}
		if res.Action == "" && rec.Partner != nil && !seenPartner[res.PartnerID] {
			saved, err := s.SavePartner(ctx, res.PartnerID, rec.Partner, cmd)
			switch {
			case errors.Is(err, partner.ErrInvalid):
				skip(&res, rec.Path+".organization", err)
			case err != nil:
				return rep, fmt.Errorf("import record %d: %w", rec.Index, err)
			}
			seenPartner[res.PartnerID] = true
			if saved.Created {
				rep.Partners++
			}
			last = max(last, saved.Sequence)
			if rec.Service == nil && res.Action == "" {
				res.Action = ActionUnchanged
				if saved.Created {
					res.Action = ActionCreated
				} else if saved.Changed {
					res.Action = ActionUpdated
				}
			}
		} else if res.Action == "" && rec.Service == nil {
			res.Action = ActionUnchanged // the organization came earlier in the file
		}
		if res.Action == "" {
			saved, err := s.SaveService(ctx, rec.ServiceID, rec.Service, pathwayv1.CapacityStatus_CAPACITY_STATUS_UNSPECIFIED, cmd)
			switch {
			case errors.Is(err, partner.ErrInvalid), errors.Is(err, partner.ErrConflict):
				skip(&res, rec.Path, err)
			case err != nil:
				return rep, fmt.Errorf("import record %d: %w", rec.Index, err)
			case saved.Created:
				res.Action = ActionCreated
			case saved.Changed:
				res.Action = ActionUpdated
			default:
				res.Action = ActionUnchanged
			}
			last = max(last, saved.Sequence)
		}
		if res.Action != ActionSkipped && rec.Service != nil {
			seq, action, err := s.importStatus(ctx, rec, cmd)
			if err != nil {
				return rep, fmt.Errorf("import record %d: %w", rec.Index, err)
			}
			if action != "" {
				res.Action = action
			}
			last = max(last, seq)
		}
		switch res.Action {
		case ActionCreated:
			rep.Created++
		case ActionUpdated:
			rep.Updated++
		case ActionUnchanged:
			rep.Unchanged++
		case ActionRetired:
			rep.Retired++
		case ActionReinstated:
			rep.Reinstated++
		case ActionSkipped:
			rep.Skipped++
			res.ServiceID = ""
			parts := make([]string, len(res.Reasons))
			for i, p := range res.Reasons {
				parts[i] = p.String()
			}
			res.Reason = strings.Join(parts, "; ")
		}
		rep.Results = append(rep.Results, res)
		if progress != nil {
			progress(i+1, len(records))
		}
	}
	rep.Sequence = last
	return rep, nil
}

// importStatus retires the service of a record marked inactive or
// defunct, or reinstates a retired one marked active; the action is ""
// when neither was needed.
func (s *Service) importStatus(ctx context.Context, rec partner.Record, cmd events.Command) (uint64, string, error) {
	action := ""
	seq, err := s.store.Execute(ctx, cmd, func(tx *events.Tx) error {
		action = ""
		svc, err := events.Load(tx, aggregate.Service, rec.ServiceID)
		if err != nil {
			var retry *events.Retry
			if errors.As(err, &retry) {
				switch retry.Type {
				case events.TypeOf(&pathwayv1.ServiceRetired{}):
					action = ActionRetired
				case events.TypeOf(&pathwayv1.ServiceReinstated{}):
					action = ActionReinstated
				}
			}
			return err
		}
		var evs []proto.Message
		if rec.Retire != "" {
			evs, err = svc.Retire(rec.Retire, "")
			if len(evs) > 0 {
				action = ActionRetired
			}
		} else {
			evs, err = svc.Reinstate("")
			if len(evs) > 0 {
				action = ActionReinstated
			}
		}
		tx.Emit(aggregate.Service.Aggregate(rec.ServiceID), evs...)
		return err
	})
	return seq, action, err
}
