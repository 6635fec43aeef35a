package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/adapters/oruk"
	"github.com/pathway-sp/pathway/services/adapters/oruk/oruktest"
	"github.com/pathway-sp/pathway/services/domain/partner"
)

// TestDirectorySyncMustShow walks issue 14's sync through the binary: a
// running pathway syncs from a local Open Referral UK server built from
// the standard's example. The first sync creates the services, which come
// back as ORUK with what they were imported with; a second after a change
// updates only the changed one; a record set inactive retires its
// service: its open handoff stays visible and a new handoff is refused.
func TestDirectorySyncMustShow(t *testing.T) {
	p := startPathway(t, "")
	k := p.vcseKeys()
	refID, lw := p.assignedReferral(k.ref, k.ops, "9434765919")
	src := oruktest.NewSource(t, "Walking group", "Befriending")
	walkID, befriendID := partner.ServiceIDFor(oruktest.SourceID(1)), partner.ServiceIDFor(oruktest.SourceID(2))
	sync := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append([]string{"directory", "sync", src.URL, "--data", p.data}, args...), func(string) string { return "" }, &out, &errOut); code != 0 {
			t.Fatalf("pathway directory sync: exit %d: %s", code, errOut.String())
		}
		return out.String(), errOut.String()
	}

	out, progress := sync()
	if !strings.Contains(out, "2 listed (everything): 2 created, 0 updated, 0 retired, 0 reinstated, 0 unchanged, 0 skipped") {
		t.Fatalf("first sync printed:\n%s", out)
	}
	if !strings.Contains(out, "service "+oruktest.SourceID(1)+": created ("+walkID+")") {
		t.Errorf("first sync does not say what became of each service:\n%s", out)
	}
	if !strings.Contains(progress, "importing services: 2 of 2") || !strings.Contains(progress, "page 1 of 1") {
		t.Errorf("progress on stderr: %q", progress)
	}

	// The full service comes back as Open Referral UK, no key needed.
	got := orukService(t, p.base, walkID)
	if got.Status != "active" || len(got.Schedules) == 0 || len(got.Languages) == 0 || got.FeesDescription == "" || got.EligibilityDescription == "" ||
		len(got.ServiceAtLocations) == 0 || got.ServiceAtLocations[0].Location.Addresses[0].PostalCode != "TS1 2AA" {
		t.Errorf("GET /oruk/services/{id}: %+v", got)
	}

	var h struct{ ID, Status string }
	if code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, map[string]any{"service_id": walkID, "shared_fields": []string{"given_name"}, "consent": true}, &h); code != http.StatusCreated {
		t.Fatalf("handoff to the walking group: %d", code)
	}

	src.Change(2, func(m map[string]any) {
		m["description"] = "Befriending by phone and in person"
		m["phones"].([]any)[0].(map[string]any)["number"] = "not a phone number"
	})
	out, _ = sync()
	if !strings.Contains(out, "1 listed (changes since ") || !strings.Contains(out, "0 created, 1 updated, 0 retired, 0 reinstated, 0 unchanged, 0 skipped") {
		t.Fatalf("sync after one change printed:\n%s", out)
	}
	if !strings.Contains(out, "  left out $.phones[0]") {
		t.Errorf("the part left out is not reported at its path in the service:\n%s", out)
	}
	if got := orukService(t, p.base, befriendID); got.Description != "Befriending by phone and in person" {
		t.Errorf("the change did not come through: %q", got.Description)
	}

	src.Change(1, func(m map[string]any) { m["status"] = "inactive" })
	out, _ = sync()
	if !strings.Contains(out, "0 created, 0 updated, 1 retired") || !strings.Contains(out, "service "+oruktest.SourceID(1)+": retired") {
		t.Fatalf("sync after the source set the walking group inactive printed:\n%s", out)
	}
	if got := orukService(t, p.base, walkID); got.Status != "inactive" {
		t.Errorf("GET /oruk/services/{id} of the retired service: status %q, want inactive", got.Status)
	}
	var open struct{ Status string }
	if code, _ := p.do("GET", "/v1/handoffs/"+h.ID, lw, nil, &open); code != http.StatusOK || open.Status != "requested" {
		t.Errorf("the open handoff to the retired service: %d %q, want still there, requested", code, open.Status)
	}
	var refused struct{ Detail string }
	code, _ := p.do("POST", "/v1/referrals/"+refID+"/handoffs", lw, map[string]any{"service_id": walkID, "shared_fields": []string{"given_name"}, "consent": true}, &refused)
	if code != http.StatusConflict || !strings.Contains(refused.Detail, "left the directory") {
		t.Errorf("a new handoff to the retired service: %d %q, want 409 saying it left the directory", code, refused.Detail)
	}

	out, _ = sync()
	if !strings.Contains(out, "0 created, 0 updated, 0 retired, 0 reinstated") {
		t.Errorf("a sync with nothing new changed something:\n%s", out)
	}
}

// orukService reads GET /oruk/services/{id} without a key and checks it
// against the HSDS 3.0 schema.
func orukService(t *testing.T, base, id string) oruk.Service {
	t.Helper()
	res, err := http.Get(base + "/oruk/services/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /oruk/services/%s: %d %s", id, res.StatusCode, body)
	}
	oruktest.Validate(t, oruktest.Service, body)
	var s oruk.Service
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// The sync command refuses what it cannot use, saying why.
func TestDirectorySyncCommandRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"ftp://example.org"}, "", "not an http or https URL"},
		{[]string{"https://example.org/api?key=secret"}, "", "without a query"},
		{[]string{"https://example.org/api", "--every", "1s"}, "", "at most once a minute"},
		{[]string{"https://example.org/api"}, "no colon here", "PATHWAY_SYNC_HEADER"},
	} {
		var out, errOut bytes.Buffer
		getenv := func(k string) string {
			if k == syncHeaderEnv {
				return tc.env
			}
			return ""
		}
		code := run(context.Background(), append([]string{"directory", "sync", "--data", t.TempDir()}, tc.args...), getenv, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d %q, want an error saying %q", tc.args, code, errOut.String(), tc.want)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"directory", "sync", "--help"}, func(string) string { return "" }, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "modified_after") || !strings.Contains(out.String(), "--every") {
		t.Errorf("help: exit %d\n%s", code, out.String())
	}
}

// pathway serve --directory-sync syncs its sources at start (and on its
// schedule), logging the counts.
func TestServeSyncsTheDirectory(t *testing.T) {
	src := oruktest.NewSource(t, "Walking group")
	cfg := defaultServeConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.NATSListen = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.DirectorySync, cfg.DirectorySyncEvery = []string{src.URL}, time.Hour
	p := startPathwayWith(t, cfg)
	id := partner.ServiceIDFor(oruktest.SourceID(1))
	eventually(t, "the synced service served as ORUK", func() bool {
		res, err := http.Get(p.base + "/oruk/services/" + id)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if got := orukService(t, p.base, id); got.Name != "Walking group" {
		t.Errorf("synced service: %q", got.Name)
	}
	eventually(t, "the sync's counts in the log", func() bool {
		return strings.Contains(p.logs.String(), `msg="directory synced"`) && strings.Contains(p.logs.String(), "created=1")
	})

	bad := defaultServeConfig()
	bad.DirectorySync, bad.DirectorySyncEvery = []string{"ftp://example.org"}, time.Second
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "--directory-sync:") || !strings.Contains(err.Error(), "--directory-sync-every") {
		t.Errorf("a bad --directory-sync: %v, want both refused", err)
	}
}
