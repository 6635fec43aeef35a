package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/erasure"
)

// eraser is what the erasure endpoints use of the erasure service.
type eraser interface {
	Referral(ctx context.Context, id string, req erasure.Request) (erasure.Result, error)
	Person(ctx context.Context, nhs string, req erasure.Request) ([]erasure.Result, error)
}

var _ eraser = (*erasure.Service)(nil)

// erasureGrounds are the grounds an erasure request names.
var erasureGrounds = map[string]pathwayv1.ErasureGround{
	"entered_in_error": pathwayv1.ErasureGround_ERASURE_GROUND_ENTERED_IN_ERROR,
	"subject_request":  pathwayv1.ErasureGround_ERASURE_GROUND_SUBJECT_REQUEST,
	"retention":        pathwayv1.ErasureGround_ERASURE_GROUND_RETENTION,
	"other":            pathwayv1.ErasureGround_ERASURE_GROUND_OTHER,
}

type eraseBody struct {
	// NHSNumber names the person (POST /v1/people/erase only).
	NHSNumber string `json:"nhs_number,omitempty"`
	Ground    string `json:"ground"`
	Reason    string `json:"reason"`
	ground    pathwayv1.ErasureGround
}

func (b *eraseBody) check() []kernel.FieldError {
	var errs []kernel.FieldError
	g, ok := erasureGrounds[b.Ground]
	if !ok {
		errs = append(errs, kernel.FieldError{Field: "ground", Reason: "must be entered_in_error, subject_request, retention or other", Missing: b.Ground == ""})
	}
	b.ground = g
	if strings.TrimSpace(b.Reason) == "" || len(b.Reason) > 500 {
		errs = append(errs, kernel.FieldError{Field: "reason", Reason: "why, in at most 500 characters that identify no one, is required", Missing: b.Reason == ""})
	}
	return errs
}

func (b *eraseBody) checkPerson() []kernel.FieldError {
	errs := b.check()
	b.NHSNumber = referral.NormaliseNHSNumber(b.NHSNumber)
	if !referral.ValidNHSNumber(b.NHSNumber) {
		errs = append(errs, kernel.FieldError{Field: "nhs_number", Reason: "must be 10 digits with a valid check digit", Missing: b.NHSNumber == ""})
	}
	return errs
}

// eraseReferral handles POST /v1/referrals/{id}/erase (admins): the
// referral's personal data, and that its handoffs shared, is erased for
// good. The referral must be closed.
func (a *api) eraseReferral() http.HandlerFunc {
	return command(a, keyPerRoute, (*eraseBody).check, func(r *http.Request, b *eraseBody, cmd events.Command) (reply, error) {
		if a.eraser == nil {
			return reply{}, kernel.Errorf(kernel.Unavailable, "erasure is not served here")
		}
		res, err := a.eraser.Referral(r.Context(), r.PathValue("id"), erasure.Request{Ground: b.ground, Reason: b.Reason, Command: cmd})
		if err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, body: res}, nil
	})
}

// erasePerson handles POST /v1/people/erase (admins): every referral of
// the person with the NHS number, all closed, is erased.
func (a *api) erasePerson() http.HandlerFunc {
	return command(a, keyPerRoute, (*eraseBody).checkPerson, func(r *http.Request, b *eraseBody, cmd events.Command) (reply, error) {
		if a.eraser == nil {
			return reply{}, kernel.Errorf(kernel.Unavailable, "erasure is not served here")
		}
		res, err := a.eraser.Person(r.Context(), b.NHSNumber, erasure.Request{Ground: b.ground, Reason: b.Reason, Command: cmd})
		if err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, body: map[string]any{"referrals": res}}, nil
	})
}
