package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
)

const smallHSDS = apitest.SmallHSDS

type importReport = apitest.ImportReport

var (
	newReceiver = apitest.NewReceiver
	eventually  = apitest.Eventually
)

// assignedReferral registers a worker with a place and sends a referral
// that is assigned to them; it returns the referral's id and the key of
// that worker.
func (p *pathway) assignedReferral(refKey, opsKey, nhs string) (referralID, workerKey string) {
	p.t.Helper()
	id, worker := p.api().AssignedReferral(refKey, opsKey, nhs)
	return id, p.linkWorkerKey(worker)
}

func (p *pathway) importSmall(admin string) importReport {
	p.t.Helper()
	return p.api().ImportSmall(admin)
}

// vcseKeys are one key of each role the VCSE tests use but the link
// worker's, which assignedReferral makes; the partners are org-a and
// org-b of smallHSDS.
type vcseKeys struct{ admin, ops, ref, partnerA, partnerB string }

func (p *pathway) vcseKeys() vcseKeys {
	p.t.Helper()
	return vcseKeys{admin: p.key(keys.RoleAdmin, ""), ops: p.key(keys.RoleOps, ""),
		ref: p.key(keys.RoleReferrer, "A81001"), partnerA: p.key(keys.RolePartner, "org-a"), partnerB: p.key(keys.RolePartner, "org-b")}
}

// startLoopbackWebhooks starts pathway with webhook endpoints allowed on
// loopback, where the tests' receivers listen.
func startLoopbackWebhooks(t *testing.T) *pathway {
	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen, cfg.WebhookAllowPrivate = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", true
	return startPathwayWith(t, cfg)
}

// TestVCSEMustShow walks issue 5's "must show" list through the real
// server on a fresh data directory.
func TestVCSEMustShow(t *testing.T) {
	p := startLoopbackWebhooks(t)
	k := p.vcseKeys()
	admin, ops, ref, partnerA, partnerB := k.admin, k.ops, k.ref, k.partnerA, k.partnerB
	// The link worker of an assigned referral; handed off below.
	refID, lw := p.assignedReferral(ref, ops, "9434765919")

	// Import a small HSDS file with two partners.
	rep := p.importSmall(admin)
	if rep.Created != 2 || rep.Skipped != 1 || rep.Partners != 2 {
		t.Fatalf("import: created %d skipped %d partners %d, want 2, 1, 2", rep.Created, rep.Skipped, rep.Partners)
	}
	if r := rep.Results[2]; r.Action != "skipped" || !strings.Contains(r.Reason, "organization") {
		t.Errorf("broken record: %+v, want skipped for its organization", r)
	}
	walkID := rep.Results[0].ServiceID

	// The directory search finds partner A's walking group for a lonely
	// person in TS1, and not the debt service.
	var found struct {
		Services []struct {
			ID, Name  string
			PartnerID string `json:"partner_id"`
			Capacity  string `json:"capacity_status"`
		}
	}
	p.do("GET", fmt.Sprintf("/v1/directory/services?need=loneliness&postcode=TS1+3BA&min_seq=%d", rep.Sequence), lw, nil, &found)
	if len(found.Services) != 1 || found.Services[0].ID != walkID || found.Services[0].Capacity != "capacity" {
		t.Fatalf("search: %+v, want only the walking group with capacity", found.Services)
	}

	// Partner A registers a webhook on loopback.
	rc := newReceiver(t, "a-long-shared-secret-0001")
	if code, _ := p.do("POST", "/v1/partner/webhooks", partnerA, map[string]string{"url": rc.URL() + "/hooks", "secret": rc.Secret()}, nil); code != http.StatusCreated {
		t.Fatalf("register webhook: %d", code)
	}

	// The link worker hands the assigned referral off to partner A's service.
	var h struct {
		ID       string
		Status   string
		Sequence uint64
	}
	code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, map[string]any{
		"service_id": walkID, "shared_fields": []string{"given_name", "phone", "needs"}, "consent": true, "note": "Keen to start next week"}, &h)
	if code != http.StatusCreated || h.Status != "requested" {
		t.Fatalf("handoff: %d %+v, want 201 requested", code, h)
	}

	// Partner A lists it and reads only the shared fields.
	var inbox struct {
		Total    int
		Handoffs []struct{ ID, Status string }
	}
	p.do("GET", fmt.Sprintf("/v1/partner/handoffs?status=requested&min_seq=%d", h.Sequence), partnerA, nil, &inbox)
	if inbox.Total != 1 || inbox.Handoffs[0].ID != h.ID {
		t.Fatalf("partner A inbox: %+v, want the handoff", inbox)
	}
	var detail map[string]any
	p.do("GET", "/v1/partner/handoffs/"+h.ID, partnerA, nil, &detail)
	shared, _ := detail["shared"].(map[string]any)
	if shared["given_name"] != "Sam" || shared["phone"] == nil || shared["needs"] == nil {
		t.Errorf("shared: %v, want given_name, phone and needs", shared)
	}
	for _, hidden := range []string{"family_name", "nhs_number", "date_of_birth", "postcode", "email"} {
		if _, ok := shared[hidden]; ok {
			t.Errorf("shared has %s, which the link worker did not share", hidden)
		}
	}
	if _, ok := detail["referral_id"]; ok {
		t.Errorf("the partner's view names the referral id")
	}
	raw, _ := json.Marshal(detail)
	for _, leak := range []string{"Example", "9434765919", "TS1 3BA"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("the partner's view contains %q, which was not shared", leak)
		}
	}

	// Partner B gets 404 for it, for acting on it, and for A's service.
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/partner/handoffs/" + h.ID},
		{"POST", "/v1/partner/handoffs/" + h.ID + "/accept"},
		{"PUT", "/v1/partner/services/" + walkID + "/capacity"},
	} {
		var body any
		if req.method == "PUT" {
			body = map[string]string{"status": "no-capacity"}
		}
		if code, _ := p.do(req.method, req.path, partnerB, body, nil); code != http.StatusNotFound {
			t.Errorf("partner B %s %s: %d, want 404", req.method, req.path, code)
		}
	}
	var inboxB struct{ Total int }
	p.do("GET", "/v1/partner/handoffs", partnerB, nil, &inboxB)
	if inboxB.Total != 0 {
		t.Errorf("partner B inbox has %d handoffs, want 0", inboxB.Total)
	}

	// Partner A accepts it.
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/accept", partnerA, map[string]string{"note": "We will call Sam"}, nil); code != http.StatusOK {
		t.Fatalf("accept: %d", code)
	}

	// The receiver got correctly signed deliveries of the request and the
	// acceptance.
	eventually(t, "signed deliveries of handoff.requested and handoff.accepted", func() bool {
		got := rc.Payloads()
		return len(got) == 2 && got[0].Type == "handoff.requested" && got[1].Type == "handoff.accepted" && got[1].HandoffID == h.ID
	}, func() any { return rc.Payloads() })
	if bad := rc.Bad(); bad != 0 {
		t.Errorf("%d deliveries failed signature checks", bad)
	}

	// Completing the handoff updates /v1/stats/partners.
	p.do("POST", "/v1/partner/handoffs/"+h.ID+"/start", partnerA, nil, nil)
	var done struct{ Sequence uint64 }
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/complete", partnerA, map[string]string{"outcome": "connected_to_group"}, &done); code != http.StatusOK {
		t.Fatalf("complete: %d", code)
	}
	var stats struct {
		Partners []struct {
			ID                 string
			Requested          int
			Accepted           int
			Completed          int
			AcceptanceRate     float64         `json:"acceptance_rate"`
			Outcomes           map[string]int  `json:"outcomes"`
			TimeToFirstResonse struct{ N int } `json:"time_to_first_response"`
		}
	}
	p.do("GET", fmt.Sprintf("/v1/stats/partners?min_seq=%d", done.Sequence), ops, nil, &stats)
	var a *struct {
		ID                 string
		Requested          int
		Accepted           int
		Completed          int
		AcceptanceRate     float64         `json:"acceptance_rate"`
		Outcomes           map[string]int  `json:"outcomes"`
		TimeToFirstResonse struct{ N int } `json:"time_to_first_response"`
	}
	for i := range stats.Partners {
		if stats.Partners[i].ID == "org-a" {
			a = &stats.Partners[i]
		}
	}
	if a == nil || a.Requested != 1 || a.Accepted != 1 || a.Completed != 1 || a.AcceptanceRate != 1 || a.Outcomes["connected_to_group"] != 1 || a.TimeToFirstResonse.N != 1 {
		t.Fatalf("stats for org-a: %+v, want 1 requested, accepted and completed (connected_to_group), rate 1", a)
	}
	eventually(t, "delivery of handoff.completed", func() bool {
		got := rc.Payloads()
		return len(got) == 4 && got[3].Type == "handoff.completed"
	})
}

// TestDirectoryImportCommand runs `pathway directory import` twice on a
// data directory: the second run changes nothing.
func TestDirectoryImportCommand(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "services.json")
	if err := os.WriteFile(file, []byte(smallHSDS), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"directory", "import", file, "--data", data}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "2 created, 0 updated, 0 unchanged, 0 retired, 0 reinstated, 1 skipped; 2 new partners") {
		t.Errorf("first import printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "record 2 $.contents[2] (svc-broken): skipped\n  $.contents[2].organization: the service names no organization") {
		t.Errorf("the skipped record's reason is missing:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"directory", "import", "--data", data, file}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("second import exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "0 created, 0 updated, 2 unchanged, 0 retired, 0 reinstated, 1 skipped; 0 new partners") {
		t.Errorf("second import printed:\n%s", out.String())
	}
	// The specification's full service: imported, its one location (in
	// the US, at latitude 100) left out and said so.
	out.Reset()
	full := filepath.Join("..", "..", "domain", "partner", "testdata", "hsds3", "service_full.json")
	if code := run(context.Background(), []string{"directory", "import", "--data", data, full}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("full service exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"record 0 $ (ac148810-d857-441c-9679-408f346de14b): created service ",
		"  left out $.service_at_locations[0].location.latitude: must be -90 to 90", "1 created, 0 updated"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("full service import printed:\n%s\nwant %q", out.String(), want)
		}
	}
	// The profile's CSV example, a folder of tables: the same service,
	// now unchanged but for what the CSV form holds differently.
	out.Reset()
	csvDir := filepath.Join("..", "..", "domain", "partner", "testdata", "oruk", "csv")
	if code := run(context.Background(), []string{"directory", "import", "--data", data, csvDir}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("CSV folder exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), `record 0 $["services.csv"][0] (ac148810-d857-441c-9679-408f346de14b): `) || !strings.Contains(out.String(), "0 skipped") {
		t.Errorf("CSV folder import printed:\n%s", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("id,name\nsvc-1,Walking group\n"), 0o600)
	errOut.Reset()
	if code := run(context.Background(), []string{"directory", "import", "--data", data, bad}, func(string) string { return "" }, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not JSON") {
		t.Errorf("not a JSON file: exit %d, %q; want 1 saying it is not JSON", code, errOut.String())
	}
}
