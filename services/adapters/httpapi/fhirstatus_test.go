package httpapi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi"
	"github.com/pathway-sp/pathway/services/keys"
)

// fhirDo sends a request to the FHIR front door (a body as
// application/fhir+json) and returns the status, the headers and the
// body; apitest checks a FHIR answer is valid R4.
func (s *server) fhirDo(t *testing.T, method, path, key string, body any, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	var raw json.RawMessage
	if body != nil {
		headers = append([]string{"Content-Type", "application/fhir+json"}, headers...)
	}
	code, hdr := s.do(method, path, key, body, &raw, headers...) // a FHIR answer is validated by apitest
	return code, hdr, raw
}

// isOutcome fails t unless the answer is an OperationOutcome with status
// want and, when code is not empty, an issue of that code.
func isOutcome(t *testing.T, what string, code int, hdr http.Header, body []byte, want int, issueCode string) outcome {
	t.Helper()
	var oo outcome
	_ = json.Unmarshal(body, &oo)
	if code != want || hdr.Get("Content-Type") != "application/fhir+json" || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("%s: got %d %s %s, want %d and an OperationOutcome", what, code, hdr.Get("Content-Type"), body, want)
	}
	if issueCode != "" && oo.Issue[0].Code != issueCode {
		t.Errorf("%s: got issue code %s, want %s", what, oo.Issue[0].Code, issueCode)
	}
	return oo
}

// TestFHIREdgeAnswersAreOutcomes: under /fhir/r4 the answers the edge
// makes itself (no key, a bad key, a role that may not, an unknown path,
// a wrong method, an Accept it cannot meet) are OperationOutcomes; the
// JSON API's stay problem+json.
func TestFHIREdgeAnswersAreOutcomes(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref, partner := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RolePartner, "partner-a")
	const sr = "/fhir/r4/ServiceRequest/0b0e5f52-6a7e-4f4b-9d3a-1f7c2e7d9a10"

	code, hdr, body := p.fhirDo(t, "GET", sr, "", nil)
	isOutcome(t, "no key", code, hdr, body, http.StatusUnauthorized, "login")
	if hdr.Get("WWW-Authenticate") == "" {
		t.Error("no key: no WWW-Authenticate")
	}
	code, hdr, body = p.fhirDo(t, "GET", sr, "pw_000000000000_"+strings.Repeat("A", 43), nil)
	isOutcome(t, "a wrong key", code, hdr, body, http.StatusUnauthorized, "login")
	code, hdr, body = p.fhirDo(t, "GET", sr, partner, nil)
	isOutcome(t, "a partner's key", code, hdr, body, http.StatusForbidden, "forbidden")
	code, hdr, body = p.fhirDo(t, "GET", sr, ref, nil)
	isOutcome(t, "a referral that does not exist", code, hdr, body, http.StatusNotFound, "not-found")
	for _, path := range []string{"/fhir/r4/Patient/1", "/fhir/r4/ServiceRequest/1/_history/1", "/fhir/r3/metadata"} {
		code, hdr, body = p.fhirDo(t, "GET", path, ref, nil)
		isOutcome(t, "GET "+path, code, hdr, body, http.StatusNotFound, "not-found")
		code, hdr, body = p.fhirDo(t, "GET", path, "", nil)
		isOutcome(t, "GET "+path+" without a key", code, hdr, body, http.StatusNotFound, "not-found")
	}
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", sr, "GET, PUT"},
		{"PATCH", sr, "GET, PUT"},
		{"POST", "/fhir/r4/metadata", "GET"},
		{"GET", "/fhir/r4/ServiceRequest/{id}/x", ""},
	} {
		code, hdr, body = p.fhirDo(t, tc.method, tc.path, ref, nil)
		if tc.allow == "" {
			isOutcome(t, tc.method+" "+tc.path, code, hdr, body, http.StatusNotFound, "not-found")
			continue
		}
		isOutcome(t, tc.method+" "+tc.path, code, hdr, body, http.StatusMethodNotAllowed, "not-supported")
		if hdr.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, hdr.Get("Allow"), tc.allow)
		}
	}
	code, hdr, body = p.fhirDo(t, "GET", sr, ref, nil, "Accept", "application/fhir+xml")
	isOutcome(t, "Accept: application/fhir+xml", code, hdr, body, http.StatusNotAcceptable, "not-supported")
	code, hdr, body = p.fhirDo(t, "GET", "/fhir/r4/metadata", "", nil, "Accept", "application/fhir+json;q=0, text/html")
	isOutcome(t, "Accept refusing FHIR JSON", code, hdr, body, http.StatusNotAcceptable, "not-supported")
	code, hdr, body = p.fhirDo(t, "GET", "/fhir/r4/metadata?_format=xml", "", nil)
	isOutcome(t, "_format=xml", code, hdr, body, http.StatusNotAcceptable, "not-supported")
	if code, _, _ = p.fhirDo(t, "GET", "/fhir/r4/metadata", "", nil, "Accept", "application/fhir+json;q=0.9, application/fhir+xml"); code != http.StatusOK {
		t.Errorf("Accept with FHIR JSON among others: %d, want 200", code)
	}

	// The JSON API is not FHIR.
	var prob problem
	if code, hdr := p.do("GET", "/v1/nothing", ref, nil, &prob); code != http.StatusNotFound || hdr.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /v1/nothing: %d %s, want 404 problem+json", code, hdr.Get("Content-Type"))
	}
	if code, hdr := p.do("GET", "/v1/referrals/x", "", nil, &prob); code != http.StatusUnauthorized || hdr.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /v1/referrals/x without a key: %d %s, want 401 problem+json", code, hdr.Get("Content-Type"))
	}
}

// TestFHIRMetadata: the CapabilityStatement answers without a key, is
// valid R4, and lists every FHIR route the API serves.
func TestFHIRMetadata(t *testing.T) {
	t.Parallel()
	p := start(t)
	code, hdr, body := p.fhirDo(t, "GET", "/fhir/r4/metadata", "", nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/fhir+json" {
		t.Fatalf("GET /fhir/r4/metadata: %d %s %s", code, hdr.Get("Content-Type"), body)
	}
	var cs struct {
		ResourceType string `json:"resourceType"`
		FHIRVersion  string `json:"fhirVersion"`
		Kind         string `json:"kind"`
		Format       []string
		Rest         []struct {
			Resource []struct {
				Type        string `json:"type"`
				Interaction []struct{ Code string }
			} `json:"resource"`
			Operation []struct{ Name string } `json:"operation"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(body, &cs); err != nil || cs.ResourceType != "CapabilityStatement" || cs.FHIRVersion != "4.0.1" || cs.Kind != "instance" || len(cs.Rest) != 1 {
		t.Fatalf("got %s", body)
	}
	listed := map[string]bool{}
	for _, r := range cs.Rest[0].Resource {
		for _, i := range r.Interaction {
			listed[r.Type+" "+i.Code] = true
		}
	}
	for _, op := range cs.Rest[0].Operation {
		listed["$"+op.Name] = true
	}
	for _, route := range httpapi.Routes() {
		rest, ok := strings.CutPrefix(route.Path, "/fhir/r4/")
		if !ok {
			continue
		}
		typ, tail, _ := strings.Cut(rest, "/")
		want := typ
		switch {
		case strings.HasPrefix(typ, "$"):
		case route.Method == "GET" && tail == "{id}":
			want += " read"
		case route.Method == "GET" && tail == "":
			want += " search-type"
		case route.Method == "POST" && tail == "":
			want += " create"
		case route.Method == "PUT" && tail == "{id}":
			want += " update"
		default:
			t.Errorf("%s %s: the test does not know which interaction it is", route.Method, route.Path)
			continue
		}
		if !listed[want] {
			t.Errorf("%s %s is served but the CapabilityStatement does not list %s", route.Method, route.Path, want)
		}
	}
}

// TestFHIRCancelByUpdate: PUT with status revoked and the version read
// cancels an active referral, once; without If-Match, with a stale one,
// for another organisation's referral or to change anything else, it
// changes nothing.
func TestFHIRCancelByUpdate(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref := p.key(keys.RoleReferrer, "A81001")
	body, err := os.ReadFile("../fhir/testdata/gp-referral.json")
	if err != nil {
		t.Fatal(err)
	}
	code, _, created := p.fhirDo(t, "POST", "/fhir/r4/ServiceRequest", ref, body)
	var sr map[string]any
	if err := json.Unmarshal(created, &sr); err != nil || code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, created)
	}
	id := sr["id"].(string)
	path := "/fhir/r4/ServiceRequest/" + id
	// Wait for triage and assignment to have their say, so the version
	// read is the one the update is made against.
	eventually(t, "the referral triaged and placed", func() bool {
		var v view
		p.do("GET", "/v1/referrals/"+id, ref, nil, &v)
		return v.Status == "waitlisted"
	})
	code, hdr, read := p.fhirDo(t, "GET", path, ref, nil)
	etag := hdr.Get("ETag")
	if err := json.Unmarshal(read, &sr); err != nil || code != http.StatusOK || !strings.HasPrefix(etag, `W/"`) || hdr.Get("Last-Modified") == "" {
		t.Fatalf("read: %d ETag %q Last-Modified %q", code, etag, hdr.Get("Last-Modified"))
	}
	meta := sr["meta"].(map[string]any)
	if etag != `W/"`+meta["versionId"].(string)+`"` || meta["lastUpdated"] == nil {
		t.Fatalf("ETag %s, meta %v: want the ETag of meta.versionId, and lastUpdated", etag, meta)
	}
	revoke := func(sr map[string]any, status string) []byte {
		c := map[string]any{}
		for k, v := range sr {
			c[k] = v
		}
		c["status"] = status
		b, _ := json.Marshal(c)
		return b
	}
	before := p.logLength()
	stale := `W/"1"`

	code, hdr, got := p.fhirDo(t, "PUT", path, ref, revoke(sr, "revoked"))
	isOutcome(t, "no If-Match", code, hdr, got, http.StatusPreconditionFailed, "required")
	code, hdr, got = p.fhirDo(t, "PUT", path, ref, revoke(sr, "revoked"), "If-Match", stale)
	isOutcome(t, "a stale If-Match", code, hdr, got, http.StatusPreconditionFailed, "conflict")
	code, hdr, got = p.fhirDo(t, "PUT", path, p.key(keys.RoleReferrer, "B82002"), revoke(sr, "revoked"), "If-Match", etag)
	isOutcome(t, "another organisation's referral", code, hdr, got, http.StatusNotFound, "not-found")
	code, hdr, got = p.fhirDo(t, "PUT", path, p.key(keys.RoleOps, ""), revoke(sr, "revoked"), "If-Match", etag)
	isOutcome(t, "an ops key", code, hdr, got, http.StatusForbidden, "forbidden")
	changed := revoke(sr, "active")
	changed = []byte(strings.Replace(string(changed), `"priority":"routine"`, `"priority":"urgent"`, 1))
	code, hdr, got = p.fhirDo(t, "PUT", path, ref, changed, "If-Match", etag)
	oo := isOutcome(t, "a change of details", code, hdr, got, http.StatusUnprocessableEntity, "not-supported")
	if !strings.Contains(oo.Issue[0].Diagnostics, "cannot be changed") || oo.Issue[0].Expression[0] != "ServiceRequest.status" {
		t.Errorf("a change of details: got %+v, want it to say what cannot be changed", oo.Issue)
	}
	otherPerson := strings.ReplaceAll(string(revoke(sr, "revoked")), "9434765919", "9434765064")
	code, hdr, got = p.fhirDo(t, "PUT", path, ref, otherPerson, "If-Match", etag)
	isOutcome(t, "another person", code, hdr, got, http.StatusUnprocessableEntity, "business-rule")
	code, hdr, got = p.fhirDo(t, "PUT", "/fhir/r4/ServiceRequest/01a2a6b0-0000-7000-8000-00000000dead", ref, revoke(sr, "revoked"), "If-Match", etag)
	isOutcome(t, "another id in the body than in the URL", code, hdr, got, http.StatusBadRequest, "invalid")
	code, hdr, got = p.fhirDo(t, "PUT", path, ref, revoke(sr, "revoked"), "If-Match", etag, "Content-Type", "text/plain")
	isOutcome(t, "text/plain", code, hdr, got, http.StatusUnsupportedMediaType, "not-supported")
	if after := p.logLength(); after != before {
		t.Fatalf("refused updates grew the log from %d to %d", before, after)
	}

	// The cancellation, as read with its status set.
	code, hdr, got = p.fhirDo(t, "PUT", path, ref, revoke(sr, "revoked"), "If-Match", etag)
	var cancelled struct {
		Status string                     `json:"status"`
		Meta   struct{ VersionID string } `json:"meta"`
	}
	if err := json.Unmarshal(got, &cancelled); err != nil || code != http.StatusOK || cancelled.Status != "revoked" || hdr.Get("ETag") != `W/"`+cancelled.Meta.VersionID+`"` || hdr.Get("ETag") == etag {
		t.Fatalf("cancel: %d ETag %s %s, want 200 revoked at a new version", code, hdr.Get("ETag"), got)
	}
	var v struct {
		Status       string `json:"status"`
		CancelReason string `json:"cancel_reason"`
	}
	if p.do("GET", "/v1/referrals/"+id, ref, nil, &v); v.Status != "cancelled" || v.CancelReason != "revoked" {
		t.Fatalf("the referral after the update: %+v, want cancelled as revoked", v)
	}
	code, _, task := p.fhirDo(t, "GET", "/fhir/r4/Task/"+id, ref, nil)
	if code != http.StatusOK || !strings.Contains(string(task), `"status":"cancelled"`) || !strings.Contains(string(task), `"code":"revoked"`) {
		t.Fatalf("the Task after the update: %d %s, want cancelled because revoked", code, task)
	}

	// A second cancellation: 412 with the old version, 409 with the new.
	code, hdr, got = p.fhirDo(t, "PUT", path, ref, revoke(sr, "entered-in-error"), "If-Match", etag)
	isOutcome(t, "a second cancellation at the old version", code, hdr, got, http.StatusPreconditionFailed, "conflict")
	code, hdr, got = p.fhirDo(t, "PUT", path, ref, revoke(sr, "entered-in-error"), "If-Match", `W/"`+cancelled.Meta.VersionID+`"`)
	isOutcome(t, "a second cancellation at the new version", code, hdr, got, http.StatusConflict, "conflict")
	if p.do("GET", "/v1/referrals/"+id, ref, nil, &v); v.CancelReason != "revoked" {
		t.Fatalf("after a second cancellation: %+v, want still revoked", v)
	}
}

// TestFHIRStatusBack: a referral declined by triage reads back revoked,
// never completed, with the reason, on its ServiceRequest and its Task;
// an assigned referral's Task says assigned.
func TestFHIRStatusBack(t *testing.T) {
	t.Parallel()
	p := start(t)
	ref, ops := p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleOps, "")

	out := exampleReferral()
	out["gp_practice"] = "Y99999" // out of the area: the rules decline it
	var declined submitted
	if code, _ := p.do("POST", "/v1/referrals", ref, out, &declined); code != http.StatusCreated {
		t.Fatalf("referral: %d", code)
	}
	eventually(t, "the referral declined", func() bool {
		var v view
		p.do("GET", "/v1/referrals/"+declined.ID, ref, nil, &v)
		return v.Status == "declined"
	})
	var v struct {
		Triage struct {
			DeclineReason string `json:"decline_reason"`
		} `json:"triage"`
	}
	p.do("GET", "/v1/referrals/"+declined.ID, ref, nil, &v)
	if v.Triage.DeclineReason == "" {
		t.Fatal("the declined referral has no decline reason")
	}
	code, hdr, body := p.fhirDo(t, "GET", "/fhir/r4/ServiceRequest/"+declined.ID, ref, nil)
	var sr struct {
		Status    string `json:"status"`
		Extension []struct {
			URL                  string `json:"url"`
			ValueCodeableConcept struct {
				Coding []struct{ Code string } `json:"coding"`
				Text   string                  `json:"text"`
			} `json:"valueCodeableConcept"`
		} `json:"extension"`
	}
	if err := json.Unmarshal(body, &sr); err != nil || code != http.StatusOK {
		t.Fatalf("read: %d %s", code, body)
	}
	if sr.Status == "completed" || sr.Status != "revoked" {
		t.Errorf("the declined ServiceRequest reads %s, want revoked (never completed)", sr.Status)
	}
	if len(sr.Extension) != 1 || sr.Extension[0].ValueCodeableConcept.Coding[0].Code != "declined" || sr.Extension[0].ValueCodeableConcept.Text != v.Triage.DeclineReason {
		t.Errorf("the declined ServiceRequest's reason: %+v, want declined because %q", sr.Extension, v.Triage.DeclineReason)
	}
	code, hdr, body = p.fhirDo(t, "GET", "/fhir/r4/Task/"+declined.ID, ref, nil)
	var task struct {
		ResourceType string `json:"resourceType"`
		Status       string `json:"status"`
		StatusReason struct {
			Coding []struct{ Code string } `json:"coding"`
			Text   string                  `json:"text"`
		} `json:"statusReason"`
		BusinessStatus struct {
			Coding []struct{ Code string } `json:"coding"`
		} `json:"businessStatus"`
		Focus struct{ Reference string } `json:"focus"`
		Meta  struct{ VersionID string } `json:"meta"`
	}
	if err := json.Unmarshal(body, &task); err != nil || code != http.StatusOK || task.ResourceType != "Task" {
		t.Fatalf("Task: %d %s", code, body)
	}
	if task.Status != "rejected" || task.StatusReason.Coding[0].Code != "declined" || task.StatusReason.Text != v.Triage.DeclineReason ||
		task.BusinessStatus.Coding[0].Code != "declined" || task.Focus.Reference != "ServiceRequest/"+declined.ID {
		t.Errorf("the declined Task: %s, want rejected, declined because %q, focus the ServiceRequest", body, v.Triage.DeclineReason)
	}
	if hdr.Get("ETag") != `W/"`+task.Meta.VersionID+`"` || hdr.Get("Last-Modified") == "" {
		t.Errorf("the Task's ETag %q Last-Modified %q, want W/\"%s\" and a time", hdr.Get("ETag"), hdr.Get("Last-Modified"), task.Meta.VersionID)
	}
	// Another organisation reads no Task of it.
	code, hdr, body = p.fhirDo(t, "GET", "/fhir/r4/Task/"+declined.ID, p.key(keys.RoleReferrer, "B82002"), nil)
	isOutcome(t, "another organisation's Task", code, hdr, body, http.StatusNotFound, "not-found")

	// An assigned referral's Task says so.
	assigned, _ := p.api().AssignedReferral(ref, ops, "4010232137")
	code, _, body = p.fhirDo(t, "GET", "/fhir/r4/Task/"+assigned, ref, nil)
	if err := json.Unmarshal(body, &task); err != nil || code != http.StatusOK {
		t.Fatalf("Task: %d %s", code, body)
	}
	if task.Status != "in-progress" || task.BusinessStatus.Coding[0].Code != "assigned" {
		t.Errorf("the assigned Task: %s, want in-progress and assigned", body)
	}
	code, _, body = p.fhirDo(t, "GET", "/fhir/r4/ServiceRequest/"+assigned, ref, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"status":"active"`) {
		t.Errorf("the assigned ServiceRequest: %d %s, want active", code, body)
	}
}
