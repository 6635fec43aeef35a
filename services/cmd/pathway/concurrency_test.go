package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/pathway-sp/pathway/services/keys"
)

// TestConcurrentReferralsForDifferentPeople: 300 referrals for 300 people,
// posted at once while triage and assignment run, all answer 201: no 503,
// because different people never contend.
func TestConcurrentReferralsForDifferentPeople(t *testing.T) {
	p := startPathway(t, "")
	ref := p.key(keys.RoleReferrer, "A81001")
	ops := p.key(keys.RoleOps, "")
	p.worker(ops, "Robin Worker", 20) // assignment writes while intake does
	nhs := nhsNumbers(300)
	codes := make([]int, len(nhs))
	var wg sync.WaitGroup
	for i, n := range nhs {
		wg.Go(func() {
			body := exampleReferral()
			body["person"].(map[string]any)["nhs_number"] = n
			codes[i], _ = p.do("POST", "/v1/referrals", ref, body, nil, "Idempotency-Key", fmt.Sprint("concurrent-", i))
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusCreated {
			t.Errorf("referral %d: %d, want 201", i, code)
		}
	}
}
