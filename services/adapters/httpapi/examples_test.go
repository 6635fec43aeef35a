package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
)

// TestREADMEExamples walks the README's "Trying the API" with its example
// files (docs/examples): a worker, a referral placed with them, the
// directory, a handoff the partner accepts.
func TestREADMEExamples(t *testing.T) {
	t.Parallel()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	p := start(t)
	ops, ref, admin := p.key(keys.RoleOps, ""), p.key(keys.RoleReferrer, "A81001"), p.key(keys.RoleAdmin, "")
	var worker, referral struct{ ID, Status string }
	if code, _ := p.do("POST", "/v1/workers", ops, read("worker.json"), &worker); code != http.StatusCreated {
		t.Fatalf("worker.json: %d", code)
	}
	if code, _ := p.do("POST", "/v1/referrals", ref, read("referral.json"), &referral); code != http.StatusCreated {
		t.Fatalf("referral.json: %d", code)
	}
	apitest.Eventually(t, "the referral assigned", func() bool {
		p.do("GET", "/v1/referrals/"+referral.ID, ref, nil, &referral)
		return referral.Status == "assigned"
	}, func() any { return referral })
	var rep apitest.ImportReport
	if code, _ := p.do("POST", "/v1/directory/import", admin, read("services.json"), &rep); code != http.StatusOK || rep.Created != 2 || rep.Skipped != 0 {
		t.Fatalf("services.json: %d %+v, want both services created", code, rep)
	}
	lw := p.keyFor(keys.Spec{Role: keys.RoleLinkWorker, Worker: worker.ID})
	var found struct{ Services []struct{ ID, Name string } }
	if p.do("GET", "/v1/directory/services?need=loneliness", lw, nil, &found); len(found.Services) == 0 || found.Services[0].Name != "Tees Valley Walking Group" {
		t.Fatalf("search by need: %+v, want the walking group first", found)
	}
	var h struct{ ID, Status string }
	body := map[string]any{"service_id": found.Services[0].ID, "shared_fields": []string{"given_name", "phone", "needs"}, "consent": true}
	if code, _ := p.do("POST", "/v1/referrals/"+referral.ID+"/handoffs", lw, body, &h); code != http.StatusCreated {
		t.Fatalf("handoff: %d", code)
	}
	partner := p.key(keys.RolePartner, "org-a")
	if code, _ := p.do("POST", "/v1/partner/handoffs/"+h.ID+"/accept", partner, nil, &h); code != http.StatusOK || h.Status != "accepted" {
		t.Fatalf("accept: %d %+v", code, h)
	}
}
