package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/services/keys"
)

const barsDir = "../fhir/testdata/bars"

// barsExample reads a committed BaRS example (testdata/bars) as a JSON
// tree.
func barsExample(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(barsDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// resourceOf returns the first entry's resource of type typ.
func resourceOf(bundle map[string]any, typ string) map[string]any {
	for _, e := range bundle["entry"].([]any) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] == typ {
			return r
		}
	}
	return nil
}

// socialPrescribing turns a BaRS referral example into a referral to
// social prescribing: ServiceRequest.code becomes SNOMED CT
// 871731000000106. It then fills in only what pathway's domain strictly
// needs and the example lacks, and returns the list of what it filled:
//   - a need (ServiceRequest.reasonCode, pathway's need code system):
//     no BaRS example has one, and a referral needs at least one;
//   - an NHS number with a valid check digit: the examples' 3478526985
//     and 7778521234 fail the modulus 11 check, and 8A-1 and 9A-1 (an
//     ambulance's unknown patient) have none;
//   - for 8A-1 only, the details of the person it lacks: a name, a date
//     of birth, a postcode, the person's own phone (its one contact is
//     not ONESELF) and the GP practice.
func socialPrescribing(bundle map[string]any) []string {
	var filled []string
	sr := resourceOf(bundle, "ServiceRequest")
	sr["code"] = map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "871731000000106", "display": "Referral to social prescribing service"}}}
	sr["reasonCode"] = []any{map[string]any{"coding": []any{map[string]any{"system": "https://pathway.example/fhir/CodeSystem/need", "code": "loneliness"}}}}
	filled = append(filled, "ServiceRequest.reasonCode (need loneliness)")
	p := resourceOf(bundle, "Patient")
	ids, _ := p["identifier"].([]any)
	nhs := -1
	for i, id := range ids {
		if strings.EqualFold(id.(map[string]any)["system"].(string), "https://fhir.nhs.uk/Id/nhs-number") {
			nhs = i
		}
	}
	valid := map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}
	if nhs < 0 {
		p["identifier"] = append(ids, valid)
		filled = append(filled, "Patient.identifier (an NHS number)")
	} else if v := ids[nhs].(map[string]any)["value"]; v == "3478526985" || v == "7778521234" {
		ids[nhs].(map[string]any)["value"] = "9434765919"
		filled = append(filled, "Patient.identifier (a valid NHS number in place of one with a wrong check digit)")
	}
	if p["name"] == nil {
		p["name"] = []any{map[string]any{"family": "Jones", "given": []any{"Julie"}}}
		filled = append(filled, "Patient.name")
	}
	if p["birthDate"] == nil {
		p["birthDate"] = "1959-05-04"
		filled = append(filled, "Patient.birthDate")
	}
	if p["address"] == nil {
		p["address"] = []any{map[string]any{"postalCode": "LS10 4YU"}}
		filled = append(filled, "Patient.address.postalCode")
	}
	oneself := false
	for _, c := range asSlice(p["contact"]) {
		if strings.Contains(mustJSON(c), `"ONESELF"`) {
			oneself = true
		}
	}
	if !oneself && p["telecom"] == nil {
		p["telecom"] = []any{map[string]any{"system": "phone", "value": "07736312544"}}
		filled = append(filled, "Patient.telecom (the person's phone)")
	}
	if p["generalPractitioner"] == nil {
		p["generalPractitioner"] = []any{map[string]any{"identifier": map[string]any{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "G82080"}}}
		filled = append(filled, "Patient.generalPractitioner")
	}
	return filled
}

func toStrings(v any) []string {
	var out []string
	for _, s := range asSlice(v) {
		out = append(out, s.(string))
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// post sends a message to $process-message and returns the status, the
// headers and the body, which must be valid FHIR R4.
func (s *server) postMessage(t *testing.T, key string, msg any) (int, http.Header, map[string]any) {
	t.Helper()
	var raw json.RawMessage
	code, hdr := s.do("POST", "/fhir/r4/$process-message", key, msg, &raw, "Content-Type", "application/fhir+json") // validated by apitest
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return code, hdr, out
}

// read gets a ServiceRequest, which must be valid FHIR R4 (apitest
// validates every FHIR answer).
func (s *server) readServiceRequest(t *testing.T, key, location string) map[string]any {
	t.Helper()
	var raw json.RawMessage
	if code, _ := s.do("GET", location, key, nil, &raw); code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", location, code, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

func issueCodes(oo map[string]any) []string {
	var codes []string
	for _, is := range asSlice(oo["issue"]) {
		codes = append(codes, is.(map[string]any)["code"].(string))
	}
	return codes
}

// referrals counts the referrals in the log: its referral subjects. (The
// log's length moves as triage and assignment follow the referral.)
func (s *server) referrals(t *testing.T) int {
	t.Helper()
	st, err := s.log.JS.Stream(context.Background(), "PATHWAY")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter("pathway.referral.>"))
	if err != nil {
		t.Fatal(err)
	}
	return len(info.State.Subjects)
}

// TestBaRSReferralExamples: every BaRS referral example, made a referral
// to social prescribing, is taken through $process-message (201 and the
// BaRS response message) and reads back with what was sent; unchanged, it
// is a clean 422. The updates of a series (8B to 8D, 9A-2 and 9A-3) sent
// after its first message make no second referral and are answered 422:
// pathway takes no updates of a referral's details; sent first, an update
// (a whole referral, "Update Full") makes the referral as a new one does.
func TestBaRSReferralExamples(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(barsDir)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	updates := map[string][]string{}
	isUpdate := map[string]bool{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		if !strings.HasPrefix(name, "REFREQ") {
			continue
		}
		reason := mustJSON(resourceOf(barsExample(t, name), "MessageHeader")["reason"])
		if strings.Contains(reason, `"update"`) {
			series := name[:len("REFREQ9A")]
			if strings.HasPrefix(name, "REFREQ8") {
				series = "REFREQ8"
			}
			updates[series] = append(updates[series], name)
			isUpdate[name] = true
		}
		all = append(all, name)
	}
	if len(all) != 16 || len(updates["REFREQ8"]) != 3 || len(updates["REFREQ9A"]) != 2 {
		t.Fatalf("examples: %v, updates %v", all, updates)
	}
	// Every example, sent first, makes its referral: an update of a
	// referral pathway does not know carries the whole referral (BaRS's
	// "Update Full"), so it is taken as new.
	for _, name := range all {
		t.Run(name, func(t *testing.T) {
			p := start(t)
			ref := p.key(keys.RoleReferrer, "RND") // the examples' sender

			code, _, oo := p.postMessage(t, ref, barsExample(t, name))
			if code != http.StatusUnprocessableEntity || oo["resourceType"] != "OperationOutcome" || !slices.Equal(issueCodes(oo), []string{"not-supported"}) ||
				!strings.Contains(mustJSON(oo), "social prescribing") {
				t.Fatalf("unchanged: %d %v, want 422 and one issue not-supported saying the service is not social prescribing", code, oo)
			}

			msg := barsExample(t, name)
			t.Logf("filled in: %v", socialPrescribing(msg))
			sent := resourceOf(msg, "ServiceRequest")
			code, hdr, resp := p.postMessage(t, ref, msg)
			if code != http.StatusCreated || resp["resourceType"] != "Bundle" || resp["type"] != "message" {
				t.Fatalf("POST $process-message: %d %v", code, resp)
			}
			header := resourceOf(resp, "MessageHeader")
			response, _ := header["response"].(map[string]any)
			if response["code"] != "ok" || response["identifier"] != msg["id"] {
				t.Errorf("response %v, want code ok and the request's id %v", response, msg["id"])
			}
			created := resourceOf(resp, "ServiceRequest")
			loc := hdr.Get("Location")
			// (Its status may have moved on already: triage follows the log.)
			if created == nil || loc != "/fhir/r4/ServiceRequest/"+created["id"].(string) || mustJSON(header["focus"]) != `[{"reference":"urn:uuid:`+created["id"].(string)+`"}]` {
				t.Fatalf("the response's focus is not the ServiceRequest at Location %q: %v", loc, resp)
			}

			// Read back: what was sent is kept.
			back := p.readServiceRequest(t, ref, loc)
			if back["authoredOn"] != sent["authoredOn"] {
				t.Errorf("authoredOn %v, want %v as sent", back["authoredOn"], sent["authoredOn"])
			}
			js := mustJSON(back)
			patient := resourceOf(msg, "Patient")
			wants := []string{
				`"https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral"`, // meta.profile
				`"code":"referral"`, `"system":"https://fhir.nhs.uk/CodeSystem/usecases-categories-bars"`, // category as sent
				`"value":"RND"`, `"9434765919"`, // requester organisation, NHS number
				`"family":` + mustJSON(patient["name"].([]any)[0].(map[string]any)["family"]),
				`"postalCode":` + mustJSON(patient["address"].([]any)[0].(map[string]any)["postalCode"]),
			}
			if patient["communication"] != nil {
				wants = append(wants, `"https://fhir.hl7.org.uk/CodeSystem/UKCore-HumanLanguage"`)
			}
			for _, want := range wants {
				if !strings.Contains(js, want) {
					t.Errorf("read back lacks %s: %s", want, js)
				}
			}
			// The requester: the practitioner as sent, by name and identifier.
			var requester map[string]any
			for _, e := range msg["entry"].([]any) {
				if e.(map[string]any)["fullUrl"] == sent["requester"].(map[string]any)["reference"] {
					requester = e.(map[string]any)["resource"].(map[string]any)
				}
			}
			pname := requester["name"].([]any)[0].(map[string]any)
			wantName := strings.Join(append(toStrings(pname["given"]), pname["family"].(string)), " ")
			if req := back["requester"].(map[string]any); req["display"] != wantName || !strings.Contains(js, mustJSON(requester["identifier"].([]any)[0].(map[string]any)["value"])) {
				t.Errorf("requester %v, want %q and the practitioner's identifier", req, wantName)
			}
			for _, c := range asSlice(back["contained"]) {
				if c := c.(map[string]any); c["resourceType"] == "Consent" {
					if sentConsent := resourceOf(msg, "Consent"); c["dateTime"] != sentConsent["dateTime"] {
						t.Errorf("consent dateTime %v, want %v as sent", c["dateTime"], sentConsent["dateTime"])
					}
				}
			}

			// Resent: no second referral, a 409 duplicate naming the first
			// (an update resent is an update of a known referral: 422).
			code, _, oo = p.postMessage(t, ref, msg)
			switch {
			case isUpdate[name] && (code != http.StatusUnprocessableEntity || !slices.Equal(issueCodes(oo), []string{"not-supported"}) || !strings.Contains(mustJSON(oo), created["id"].(string))):
				t.Errorf("update resent: %d %v, want 422 not-supported naming %v", code, oo, created["id"])
			case !isUpdate[name] && (code != http.StatusConflict || !slices.Equal(issueCodes(oo), []string{"duplicate"}) || !strings.Contains(mustJSON(oo), created["id"].(string))):
				t.Errorf("resent: %d %v, want 409 duplicate naming %v", code, oo, created["id"])
			}
			if n := p.referrals(t); n != 1 {
				t.Errorf("%d referrals after a resend, want 1", n)
			}

			// The updates of the series make no second referral.
			series := "REFREQ8"
			if !strings.HasPrefix(name, series) {
				series = name
			}
			if isUpdate[name] {
				series = "" // the updates of a series follow its first message
			}
			for _, upd := range updates[series] {
				u := barsExample(t, upd)
				socialPrescribing(u)
				code, _, oo := p.postMessage(t, ref, u)
				if code != http.StatusUnprocessableEntity || !slices.Equal(issueCodes(oo), []string{"not-supported"}) || !strings.Contains(mustJSON(oo), created["id"].(string)) {
					t.Errorf("%s: %d %v, want 422 not-supported naming %v", upd, code, oo, created["id"])
				}
			}
			if n := p.referrals(t); n != 1 {
				t.Errorf("%d referrals after the updates, want 1", n)
			}
		})
	}
}

// TestBaRSCancellation: SERVREQ01 (revoked) and SERVREQ02 (entered in
// error), sent after the referral REFREQ01 made, cancel it; a second
// cancellation is 409, and another organisation's is 404.
func TestBaRSCancellation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, status string }{{"SERVREQ01", "revoked"}, {"SERVREQ02", "entered-in-error"}} {
		t.Run(tc.file, func(t *testing.T) {
			p := start(t)
			ref := p.key(keys.RoleReferrer, "RND")
			msg := barsExample(t, "REFREQ01")
			socialPrescribing(msg)
			// Only an active referral can be cancelled: registered with a
			// practice in the area of the test's triage rules (not G82080,
			// whose referral triage declines at once).
			for _, e := range msg["entry"].([]any) {
				if r := e.(map[string]any)["resource"].(map[string]any); r["name"] == "Patient's Surgery" {
					r["identifier"] = []any{map[string]any{"system": "https://fhir.nhs.uk/id/ods-organization-code", "value": "A81001"}}
				}
			}
			code, hdr, _ := p.postMessage(t, ref, msg)
			if code != http.StatusCreated {
				t.Fatalf("REFREQ01: %d", code)
			}
			loc := hdr.Get("Location")

			// Another organisation's, by the sender's reference or by
			// pathway's id, finds nothing.
			other := p.key(keys.RoleReferrer, "B82002")
			byID := barsExample(t, tc.file)
			resourceOf(byID, "ServiceRequest")["id"] = strings.TrimPrefix(loc, "/fhir/r4/ServiceRequest/")
			for _, msg := range []map[string]any{barsExample(t, tc.file), byID} {
				code, _, oo := p.postMessage(t, other, msg)
				if code != http.StatusNotFound || !slices.Equal(issueCodes(oo), []string{"not-found"}) {
					t.Errorf("another organisation's cancellation: %d %v, want 404", code, oo)
				}
			}
			if back := p.readServiceRequest(t, ref, loc); back["status"] != "active" {
				t.Errorf("after another organisation's cancellation: status %v, want active", back["status"])
			}

			code, _, resp := p.postMessage(t, ref, barsExample(t, tc.file))
			var oo map[string]any
			if code != http.StatusOK || resourceOf(resp, "ServiceRequest")["status"] != tc.status {
				t.Fatalf("%s: %d %v, want 200 and the ServiceRequest %s", tc.file, code, resp, tc.status)
			}
			if back := p.readServiceRequest(t, ref, loc); back["status"] != tc.status {
				t.Errorf("read back: status %v, want %s", back["status"], tc.status)
			}
			code, _, oo = p.postMessage(t, ref, barsExample(t, tc.file))
			if code != http.StatusConflict || !slices.Equal(issueCodes(oo), []string{"conflict"}) {
				t.Errorf("second cancellation: %d %v, want 409 conflict", code, oo)
			}
		})
	}
}
