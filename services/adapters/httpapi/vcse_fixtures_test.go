package httpapi_test

import (
	"github.com/pathway-sp/pathway/services/adapters/httpapi/apitest"
	"github.com/pathway-sp/pathway/services/keys"
)

// The directory, handoff and partner fixtures: a small HSDS file, keys of
// each role, a referral on a caseload, and a webhook receiver.

const smallHSDS = apitest.SmallHSDS

type importReport = apitest.ImportReport

var (
	newReceiver = apitest.NewReceiver
	eventually  = apitest.Eventually
)

// assignedReferral registers a worker with a place and sends a referral
// that is assigned to them; it returns the referral's id and the key of
// that worker.
func (p *server) assignedReferral(refKey, opsKey, nhs string) (referralID, workerKey string) {
	p.t.Helper()
	id, worker := p.api().AssignedReferral(refKey, opsKey, nhs)
	return id, p.linkWorkerKey(worker)
}

// vcseKeys are one key of each role the VCSE tests use but the link
// worker's, which assignedReferral makes; the partners are org-a and
// org-b of smallHSDS.
type vcseKeys struct{ admin, ops, ref, partnerA, partnerB string }

func (p *server) vcseKeys() vcseKeys {
	p.t.Helper()
	return vcseKeys{admin: p.key(keys.RoleAdmin, ""), ops: p.key(keys.RoleOps, ""),
		ref: p.key(keys.RoleReferrer, "A81001"), partnerA: p.key(keys.RolePartner, "org-a"), partnerB: p.key(keys.RolePartner, "org-b")}
}

func (p *server) importSmall(admin string) importReport {
	p.t.Helper()
	return p.api().ImportSmall(admin)
}
