package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/adapters/edge"
	"github.com/pathway-sp/pathway/services/audit"
	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/erasure"
	"github.com/pathway-sp/pathway/services/intake"
	"github.com/pathway-sp/pathway/services/keys"
	"github.com/pathway-sp/pathway/services/sar"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 64 << 10

// Authenticator checks a bearer token.
type Authenticator interface {
	Authenticate(token string) (keys.Key, error)
}

// Referrals is what the API needs of pathway's services.
type Referrals struct {
	Store  *events.Store
	Intake *intake.Service
	// TriageQueue runs the intake.Index of referrals awaiting triage.
	TriageQueue *projections.Engine
	// Erasure erases people's personal data (admins); nil leaves its
	// endpoints answering 503.
	Erasure *erasure.Service
	// Audit records every read of personal data; nil records none (only
	// for tests of other things).
	Audit *audit.Log
	// SAR makes subject access exports (admins).
	SAR *sar.Service
	Now func() time.Time
}

// api holds the dependencies of the authenticated endpoints: each service
// as the small interfaces its resource's endpoints use (declared in the
// resource's file), the event store the reads load from, and the read
// models.
type api struct {
	auth     Authenticator
	throttle *edge.Throttle
	proxies  edge.Proxies
	log      *slog.Logger
	now      func() time.Time
	version  string // the software's, for the CapabilityStatement

	metricsHandler http.Handler // Config.Metrics

	referrals  referralDesk
	canceller  versionedCanceller
	triager    triager
	cases      caseRecorder
	closer     caseCloser
	directory  directoryEditor
	handoffs   handoffDesk
	capacity   capacitySetter
	webhooks   webhookRegistry
	deliveries deliveryLog
	eraser     eraser
	auditLog   auditLog
	exporter   exporter
	nhsIndex   nhsIndex

	commandTimeout time.Duration // Config.CommandTimeout

	store    *events.Store
	queue    *projections.Engine // the triage queue (intake.Index)
	partners *projections.Engine // the partners read model
	reads    ReadModels
}

// newAPI holds cfg's services as the interfaces the endpoints use.
func newAPI(cfg Config) *api {
	a := &api{auth: cfg.Auth, throttle: cfg.Throttle, proxies: cfg.Proxies, log: cfg.Logger, now: cfg.Referrals.Now, version: cfg.Version,
		store: cfg.Referrals.Store, queue: cfg.Referrals.TriageQueue, partners: cfg.VCSE.Partners, reads: cfg.Reads, metricsHandler: cfg.Metrics,
		commandTimeout: cfg.CommandTimeout}
	if a.commandTimeout <= 0 {
		a.commandTimeout = DefaultCommandTimeout
	}
	if in := cfg.Referrals.Intake; in != nil {
		a.referrals, a.triager, a.cases, a.closer, a.nhsIndex = in, in, in, in, in
		a.canceller = in
	}
	if x := cfg.Referrals.SAR; x != nil {
		a.exporter = x
	}
	if l := cfg.Referrals.Audit; l != nil {
		a.auditLog = l
	}
	if e := cfg.Referrals.Erasure; e != nil {
		a.eraser = e
	}
	if d := cfg.VCSE.Directory; d != nil {
		a.directory, a.capacity = d, d
	}
	if h := cfg.VCSE.Handoffs; h != nil {
		a.handoffs = h
	}
	if wh := cfg.VCSE.Webhooks; wh != nil {
		a.webhooks, a.deliveries = wh, wh
	}
	return a
}

type principal struct {
	key   keys.Key
	actor *pathwayv1.Actor
}

type ctxKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(ctxKey{}).(principal)
	return p
}

var roleProto = map[keys.Role]pathwayv1.Role{
	keys.RoleReferrer:   pathwayv1.Role_ROLE_REFERRER,
	keys.RoleTriage:     pathwayv1.Role_ROLE_TRIAGE,
	keys.RoleLinkWorker: pathwayv1.Role_ROLE_LINK_WORKER,
	keys.RoleOps:        pathwayv1.Role_ROLE_OPS,
	keys.RolePartner:    pathwayv1.Role_ROLE_PARTNER,
	keys.RoleAdmin:      pathwayv1.Role_ROLE_ADMIN,
}

// authorise wraps h so that only requests with a valid key of one of roles
// reach it: 401 without a valid key, 403 with a key of another role, and
// 429 with Retry-After, before the key is looked at, while the client
// address or the key id has failed too often (edge.Throttle). A failed
// check is logged with the client address and the key id, never the key.
func (a *api) authorise(h http.HandlerFunc, roles ...keys.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := keys.ParseAuthorization(r.Header.Get("Authorization"))
		if !ok {
			unauthorised(w, r, "a bearer API key is required")
			return
		}
		client, keyID := a.proxies.Client(r), keys.IDOf(token)
		if wait, ok := a.throttle.Check(client, keyID); !ok {
			tooManyFailures(w, r, wait)
			return
		}
		key, err := a.auth.Authenticate(token)
		if err != nil {
			a.throttle.Fail(client, keyID)
			a.log.Warn("API key rejected", "client", client.String(), "key_id", keyID, "method", r.Method, "route", r.Pattern)
			unauthorised(w, r, "the API key is not valid")
			return
		}
		if !slices.Contains(roles, key.Role) {
			a.writeError(w, r, kernel.Errorf(kernel.Forbidden, "the %s role may not %s %s", key.Role, r.Method, r.Pattern))
			return
		}
		actor := &pathwayv1.Actor{Id: key.ID, Role: roleProto[key.Role], Organisation: key.Organisation}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, principal{key: key, actor: actor})))
	}
}

const problemBase = "https://pathway.example/problems/"

// tooManyFailures answers 429: too many failed key checks, retry after
// wait.
func tooManyFailures(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int(wait.Round(time.Second) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeEdge(w, r, Problem{Type: problemBase + "too-many-failures", Title: "Too many failed key checks", Status: http.StatusTooManyRequests,
		Detail: fmt.Sprintf("too many failed API key checks from this address or for this key; retry after %d seconds", secs)})
}

func unauthorised(w http.ResponseWriter, r *http.Request, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="pathway"`)
	writeEdge(w, r, Problem{Type: problemBase + "unauthorised", Title: "Unauthorised", Status: http.StatusUnauthorized, Detail: detail})
}

// decodeJSON decodes a JSON body strictly: sent as application/json,
// one object, no unknown fields, within MaxBodyBytes, by strictJSON's
// rules. It writes the problem (415 for another media type, 413, 400) and
// returns false on error.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if !hasMediaType(r, jsonType) {
		unsupportedMediaType(w)
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		WriteProblem(w, Problem{Type: problemBase + "too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the body must be at most %d bytes", MaxBodyBytes)})
		return false
	}
	if err := strictJSON(body, v); err != nil {
		WriteProblem(w, Problem{Type: problemBase + "invalid-json", Title: "Invalid JSON", Status: http.StatusBadRequest, Detail: err.Error()})
		return false
	}
	return true
}

// strictJSON decodes body into v, refusing invalid UTF-8, a key repeated
// in an object (checkJSONText), unknown fields and trailing data. Its
// errors name the field but never echo values.
func strictJSON(body []byte, v any) error {
	if err := checkJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("field %q: want a JSON %s", te.Field, te.Type.Kind())
		case errors.As(err, &se):
			return fmt.Errorf("malformed JSON at byte %d", se.Offset)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case errors.Is(err, io.EOF):
			return errors.New("the body is empty; want a JSON object")
		}
		return errors.New("the body is not a valid JSON object")
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// writeProblemWith writes p with extension members.
func writeProblemWith(w http.ResponseWriter, p Problem, ext map[string]any) {
	b, _ := json.Marshal(p)
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	for k, v := range ext {
		m[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(m)
}

// correlationID is the request's id (edge.Requests, around the whole API,
// sets it on every request), recorded as its events' correlation id and
// in the read audit; a request that did not pass through it (a handler
// called on its own) gets a new one.
func correlationID(r *http.Request) string {
	if id := edge.RequestID(r); id != "" {
		return id
	}
	return uuid.NewString()
}

// idempotencyKey reads the Idempotency-Key header: 1 to 255 printable
// ASCII characters. Its error is kernel.Invalid.
func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if len(k) > 255 {
		return "", kernel.Errorf(kernel.Invalid, "Idempotency-Key must be at most 255 characters")
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return "", kernel.Errorf(kernel.Invalid, "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return k, nil
}
