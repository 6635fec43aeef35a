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
	Practices []string `json:"practices"`
	Capacity  *int     `json:"capacity"`
	Languages []string `json:"languages"`
	Skills    []string `json:"skills"`
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
	wk, _, err := events.Get(r.Context(), a.refs.Store, aggregate.Worker, id)
	return wk, err
}

func (a *api) writeWorker(w http.ResponseWriter, r *http.Request, id string, status int) {
	wk, err := a.loadWorker(r, id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/workers/"+id)
	writeJSON(w, status, workerView{ID: id, Name: wk.Name(), PCN: wk.PCN(), Practices: wk.Practices(), Capacity: wk.Capacity(),
		Caseload: len(wk.Cases()), Languages: wk.Languages(), Active: wk.Active(), Available: wk.Available(a.refs.Now()), Sequence: wk.Version()})
}

// registerWorker handles POST /v1/workers.
func (a *api) registerWorker(w http.ResponseWriter, r *http.Request) {
	var body workerBody
	if !decodeJSON(w, r, &body) {
		return
	}
	ev := &pathwayv1.WorkerRegistered{Name: body.Name, Pcn: body.PCN, Practices: body.Practices, Languages: body.Languages, Skills: body.Skills}
	var errs []kernel.FieldError
	if body.Capacity == nil || *body.Capacity < 0 {
		errs = append(errs, kernel.FieldError{Field: "capacity", Reason: "is required: the most active cases the worker carries"})
	} else {
		ev.Capacity = uint32(*body.Capacity)
	}
	if _, err := worker.Register(ev); err != nil {
		ke, ok := errors.AsType[*kernel.Error](err)
		if !ok {
			a.writeError(w, r, err)
			return
		}
		errs = append(errs, ke.Fields...)
	}
	if len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	cmd, err := a.command(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	id := uuid.Must(uuid.NewV7()).String()
	if cmd.IdempotencyKey != "" {
		id = uuid.NewSHA1(uuid.NameSpaceOID, []byte("worker\x00"+cmd.IdempotencyKey)).String()
	}
	if _, err := assignment.Register(r.Context(), a.refs.Store, id, ev, cmd); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeWorker(w, r, id, http.StatusCreated)
}

// getWorker handles GET /v1/workers/{id}.
func (a *api) getWorker(w http.ResponseWriter, r *http.Request) {
	a.writeWorker(w, r, r.PathValue("id"), http.StatusOK)
}

// patchWorker handles PATCH /v1/workers/{id}: capacity, an absence, a
// return, or deactivation.
func (a *api) patchWorker(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Capacity    *int       `json:"capacity"`
		AbsentFrom  *time.Time `json:"absent_from"`
		AbsentUntil *time.Time `json:"absent_until"`
		Returned    bool       `json:"returned"`
		Deactivate  bool       `json:"deactivate"`
		Reason      string     `json:"reason"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if body.Capacity != nil && *body.Capacity < 0 {
		writeInvalid(w, kernel.FieldError{Field: "capacity", Reason: "must be 0 or more"})
		return
	}
	cmd, err := a.command(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		a.writeError(w, r, events.ErrNotFound)
		return
	}
	change := assignment.WorkerChange{AbsentFrom: body.AbsentFrom, AbsentUntil: body.AbsentUntil, Returned: body.Returned, Deactivate: body.Deactivate, Reason: body.Reason}
	if body.Capacity != nil {
		c := uint32(*body.Capacity)
		change.Capacity = &c
	}
	if _, err := assignment.Change(r.Context(), a.refs.Store, id, change, cmd); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeWorker(w, r, id, http.StatusOK)
}
