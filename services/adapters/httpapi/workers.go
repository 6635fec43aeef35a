package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/aggregate"
	"github.com/pathway-sp/pathway/services/assignment"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/worker"
)

type workerBody struct {
	Name      string   `json:"name"`
	PCN       string   `json:"pcn"`
	PCNName   string   `json:"pcn_name"`
	Practices []string `json:"practices"`
	Capacity  *int     `json:"capacity"`
	Languages []string `json:"languages"`
	Skills    []string `json:"skills"`
	// registered is the event the body asks for, made by check.
	registered *pathwayv1.WorkerRegistered
}

type workerView struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	PCN       string   `json:"pcn"`
	Practices []string `json:"practices"`
	Capacity  int      `json:"capacity"`
	Caseload  int      `json:"caseload"`
	Languages []string `json:"languages"`
	Active    bool     `json:"active"`
	Available bool     `json:"available"`
	Sequence  uint64   `json:"sequence"`
}

func (a *api) loadWorker(r *http.Request, id string) (*worker.Worker, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, events.ErrNotFound
	}
	wk, _, err := events.Get(r.Context(), a.store, aggregate.Worker, id)
	return wk, err
}

// workerReply answers with the worker as it now is.
func (a *api) workerReply(r *http.Request, id string, status int) (reply, error) {
	wk, err := a.loadWorker(r, id)
	if err != nil {
		return reply{}, err
	}
	return reply{status: status, location: "/v1/workers/" + id, body: workerView{ID: id, Name: wk.Name(), PCN: wk.PCN(), Practices: wk.Practices(), Capacity: wk.Capacity(),
		Caseload: len(wk.Cases()), Languages: wk.Languages(), Active: wk.Active(), Available: wk.Available(a.now()), Sequence: wk.Version()}}, nil
}

func (b *workerBody) check() []kernel.FieldError {
	b.registered = &pathwayv1.WorkerRegistered{Name: b.Name, Pcn: b.PCN, PcnName: b.PCNName, Practices: b.Practices, Languages: b.Languages, Skills: b.Skills}
	var errs []kernel.FieldError
	if b.Capacity == nil || *b.Capacity < 0 {
		errs = append(errs, kernel.FieldError{Field: "capacity", Reason: "is required: the most active cases the worker carries"})
	} else {
		b.registered.Capacity = uint32(*b.Capacity)
	}
	if _, err := worker.Register(b.registered); err != nil {
		if ke, ok := errors.AsType[*kernel.Error](err); ok {
			errs = append(errs, ke.Fields...)
		}
	}
	return errs
}

// registerWorker handles POST /v1/workers. The key is as sent; the worker's
// id is derived from it, so a retry names the same worker.
func (a *api) registerWorker() http.HandlerFunc {
	return command(a, keyAsSent, (*workerBody).check, func(r *http.Request, b *workerBody, cmd events.Command) (reply, error) {
		id := uuid.Must(uuid.NewV7()).String()
		if cmd.IdempotencyKey != "" {
			id = uuid.NewSHA1(uuid.NameSpaceOID, []byte("worker\x00"+cmd.IdempotencyKey)).String()
		}
		if _, err := assignment.Register(r.Context(), a.store, id, b.registered, cmd); err != nil {
			return reply{}, err
		}
		return a.workerReply(r, id, http.StatusCreated)
	})
}

// getWorker handles GET /v1/workers/{id}.
func (a *api) getWorker(w http.ResponseWriter, r *http.Request) {
	rep, err := a.workerReply(r, r.PathValue("id"), http.StatusOK)
	a.respond(w, r, rep, err)
}

type workerChangeBody struct {
	Capacity    *int       `json:"capacity"`
	AbsentFrom  *time.Time `json:"absent_from"`
	AbsentUntil *time.Time `json:"absent_until"`
	Returned    bool       `json:"returned"`
	Deactivate  bool       `json:"deactivate"`
	Reason      string     `json:"reason"`
}

func (b *workerChangeBody) check() []kernel.FieldError {
	if b.Capacity != nil && *b.Capacity < 0 {
		return []kernel.FieldError{{Field: "capacity", Reason: "must be 0 or more"}}
	}
	return nil
}

// patchWorker handles PATCH /v1/workers/{id}: capacity, an absence, a
// return, or deactivation.
func (a *api) patchWorker() http.HandlerFunc {
	return command(a, keyAsSent, (*workerChangeBody).check, func(r *http.Request, b *workerChangeBody, cmd events.Command) (reply, error) {
		id := r.PathValue("id")
		if _, err := uuid.Parse(id); err != nil {
			return reply{}, events.ErrNotFound
		}
		change := assignment.WorkerChange{AbsentFrom: b.AbsentFrom, AbsentUntil: b.AbsentUntil, Returned: b.Returned, Deactivate: b.Deactivate, Reason: b.Reason}
		if b.Capacity != nil {
			c := uint32(*b.Capacity)
			change.Capacity = &c
		}
		if _, err := assignment.Change(r.Context(), a.store, id, change, cmd); err != nil {
			return reply{}, err
		}
		return a.workerReply(r, id, http.StatusOK)
	})
}
