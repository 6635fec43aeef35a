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

func (p *server) assignedReferral(refKey, opsKey, nhs string) string {
	p.t.Helper()
	return p.api().AssignedReferral(refKey, opsKey, nhs)
}

// vcseKeys are one key of each role the VCSE tests use; the partners are
// org-a and org-b of smallHSDS.
type vcseKeys struct{ admin, ops, lw, ref, partnerA, partnerB string }

func (p *server) vcseKeys() vcseKeys {
	p.t.Helper()
	return vcseKeys{admin: p.key(keys.RoleAdmin, ""), ops: p.key(keys.RoleOps, ""), lw: p.key(keys.RoleLinkWorker, ""),
		ref: p.key(keys.RoleReferrer, "A81001"), partnerA: p.key(keys.RolePartner, "org-a"), partnerB: p.key(keys.RolePartner, "org-b")}
}

func (p *server) importSmall(admin string) importReport {
	p.t.Helper()
	return p.api().ImportSmall(admin)
}
