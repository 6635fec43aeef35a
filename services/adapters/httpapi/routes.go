package httpapi

import (
	"net/http"
	"strings"

	"github.com/pathway-sp/pathway/services/domain/handoff"
	"github.com/pathway-sp/pathway/services/keys"
)

// Who may call what. Every endpoint but the probes needs a key; a key of
// another role gets 403. A referrer sees only its own organisation's
// referrals (others are 404, so their existence does not leak).
var (
	referrers   = []keys.Role{keys.RoleReferrer, keys.RoleAdmin}
	readers     = []keys.Role{keys.RoleReferrer, keys.RoleTriage, keys.RoleLinkWorker, keys.RoleOps, keys.RoleAdmin}
	cancellers  = []keys.Role{keys.RoleReferrer, keys.RoleTriage, keys.RoleAdmin}
	triageStaff = []keys.Role{keys.RoleTriage, keys.RoleAdmin}
	rosterStaff = []keys.Role{keys.RoleOps, keys.RoleAdmin}
	assigners   = []keys.Role{keys.RoleTriage, keys.RoleOps, keys.RoleAdmin}
	caseWorkers = []keys.Role{keys.RoleLinkWorker, keys.RoleAdmin}
	reopeners   = []keys.Role{keys.RoleLinkWorker, keys.RoleTriage, keys.RoleAdmin}
	rosterRead  = []keys.Role{keys.RoleTriage, keys.RoleLinkWorker, keys.RoleOps, keys.RoleAdmin}
	partnerOnly = []keys.Role{keys.RolePartner}
	// referrerOnly: a referring organisation's own webhooks.
	referrerOnly = []keys.Role{keys.RoleReferrer}
	admins       = []keys.Role{keys.RoleAdmin}
	everyone     = []keys.Role{keys.RoleReferrer, keys.RoleTriage, keys.RoleLinkWorker, keys.RoleOps, keys.RolePartner, keys.RoleAdmin}
)

// Route is one authenticated endpoint and the roles it admits.
type Route struct {
	Method, Path string
	Roles        []keys.Role
}

// table is every authenticated endpoint and its handler. A command
// endpoint's handler is built once, by command (command.go): a.cancel().
func (a *api) table() []struct {
	Route
	h http.HandlerFunc
} {
	return []struct {
		Route
		h http.HandlerFunc
	}{
		{Route{"POST", "/v1/referrals", referrers}, a.submit()},
		{Route{"GET", "/v1/referrals", referrers}, a.listReferrals},
		{Route{"GET", "/v1/referrals/{id}", readers}, a.get},
		{Route{"POST", "/v1/referrals/{id}/cancel", cancellers}, a.cancel()},
		{Route{"POST", "/v1/referrals/{id}/merge", triageStaff}, a.merge()},
		{Route{"POST", "/v1/referrals/{id}/triage", triageStaff}, a.triage()},
		{Route{"GET", "/v1/triage/queue", triageStaff}, a.triageQueue},
		{Route{"GET", "/v1/referrals/{id}/timeline", readers}, a.timeline},
		{Route{"POST", "/v1/referrals/{id}/assign", assigners}, a.assign()},
		{Route{"POST", "/v1/referrals/{id}/contacts", caseWorkers}, a.recordContact()},
		{Route{"POST", "/v1/referrals/{id}/plan", caseWorkers}, a.agreePlan()},
		{Route{"POST", "/v1/referrals/{id}/outcomes", caseWorkers}, a.measureOutcome()},
		{Route{"POST", "/v1/referrals/{id}/discharge", caseWorkers}, a.discharge()},
		{Route{"POST", "/v1/referrals/{id}/reopen", reopeners}, a.reopen()},
		{Route{"POST", "/v1/referrals/{id}/erase", admins}, a.eraseReferral()},
		{Route{"POST", "/v1/people/erase", admins}, a.erasePerson()},
		{Route{"GET", "/v1/audit", admins}, a.auditQuery},
		{Route{"POST", "/v1/people/access-request", admins}, a.subjectAccess},
		{Route{"GET", "/v1/me", everyone}, a.me},
		{Route{"GET", "/metrics", rosterStaff}, a.metrics},
		{Route{"POST", "/v1/workers", rosterStaff}, a.registerWorker()},
		{Route{"GET", "/v1/workers/{id}", rosterRead}, a.getWorker},
		{Route{"PATCH", "/v1/workers/{id}", rosterStaff}, a.patchWorker()},
		{Route{"GET", "/v1/waitlists", rosterRead}, a.listWaitlists},
		{Route{"GET", "/v1/waitlists/{queue}", rosterRead}, a.getWaitlist},
		{Route{"GET", "/v1/caseloads", rosterRead}, a.listCaseloads},
		{Route{"GET", "/v1/stats/funnel", rosterRead}, a.funnelStats},
		{Route{"GET", "/v1/caseloads/{worker}", rosterRead}, a.getCaseload},
		{Route{"GET", "/v1/alerts", rosterStaff}, a.listAlerts},
		{Route{"GET", "/v1/reports/activity", rosterStaff}, a.activityReport},
		{Route{"GET", "/v1/reports/demand", rosterStaff}, a.demandReport},
		{Route{"POST", "/v1/directory/partners", admins}, a.savePartner()},
		{Route{"POST", "/v1/directory/services", admins}, a.createService()},
		{Route{"PUT", "/v1/directory/services/{id}", admins}, a.updateService()},
		{Route{"POST", "/v1/directory/services/{id}/retire", admins}, a.retireService()},
		{Route{"POST", "/v1/directory/services/{id}/reinstate", admins}, a.reinstateService()},
		{Route{"POST", "/v1/directory/import", admins}, a.importDirectory},
		{Route{"GET", "/v1/directory/services", rosterRead}, a.searchServices},
		{Route{"GET", "/v1/directory/services/{id}", rosterRead}, a.getService},
		{Route{"POST", "/v1/referrals/{id}/handoffs", caseWorkers}, a.requestHandoff()},
		{Route{"GET", "/v1/handoffs/{id}", rosterRead}, a.getHandoff},
		{Route{"POST", "/v1/handoffs/{id}/cancel", caseWorkers}, a.handoffAction(handoff.ActionCancel)},
		{Route{"POST", "/v1/handoffs/{id}/entered-in-error", caseWorkers}, a.handoffAction(handoff.ActionEnterInError)},
		{Route{"GET", "/v1/partner/handoffs", partnerOnly}, a.partnerHandoffs},
		{Route{"GET", "/v1/partner/handoffs/{id}", partnerOnly}, a.getHandoff},
		{Route{"POST", "/v1/partner/handoffs/{id}/{action}", partnerOnly}, a.partnerAction()},
		{Route{"GET", "/v1/partner/services", partnerOnly}, a.partnerServices},
		{Route{"PUT", "/v1/partner/services/{id}/capacity", partnerOnly}, a.setCapacity()},
		{Route{"POST", "/v1/partner/webhooks", partnerOnly}, a.registerWebhook()},
		{Route{"GET", "/v1/partner/webhooks", partnerOnly}, a.listWebhooks},
		{Route{"DELETE", "/v1/partner/webhooks/{id}", partnerOnly}, a.deleteWebhook},
		{Route{"GET", "/v1/partner/webhooks/deliveries", partnerOnly}, a.listDeliveries},
		{Route{"POST", "/v1/partner/webhooks/deliveries/{id}/redeliver", partnerOnly}, a.redeliver},
		{Route{"POST", "/v1/referrer/webhooks", referrerOnly}, a.registerWebhook()},
		{Route{"GET", "/v1/referrer/webhooks", referrerOnly}, a.listWebhooks},
		{Route{"DELETE", "/v1/referrer/webhooks/{id}", referrerOnly}, a.deleteWebhook},
		{Route{"GET", "/v1/referrer/webhooks/deliveries", referrerOnly}, a.listDeliveries},
		{Route{"POST", "/v1/referrer/webhooks/deliveries/{id}/redeliver", referrerOnly}, a.redeliver},
		{Route{"GET", "/v1/stats/partners", rosterRead}, a.partnerStats},
		{Route{"POST", "/fhir/r4/ServiceRequest", referrers}, a.fhirCreate},
		{Route{"GET", "/fhir/r4/ServiceRequest", referrers}, a.fhirSearch},
		{Route{"GET", "/fhir/r4/ServiceRequest/{id}", readers}, a.fhirRead},
		{Route{"POST", "/fhir/r4/$process-message", referrers}, a.fhirProcessMessage},
		{Route{"PUT", "/fhir/r4/ServiceRequest/{id}", cancellers}, a.fhirUpdate},
		{Route{"GET", "/fhir/r4/Task/{id}", readers}, a.fhirTask},
	}
}

// Routes lists every authenticated endpoint with the roles it admits, for
// documentation and the authorisation tests.
func Routes() []Route {
	a := &api{}
	var out []Route
	for _, r := range a.table() {
		out = append(out, r.Route)
	}
	return out
}

// routes serves the table, each route behind its key check, and under
// /fhir/ only to callers that accept FHIR JSON; and the FHIR
// CapabilityStatement, which needs no key (fhirMetadata).
func (a *api) routes(mux *http.ServeMux) {
	for _, r := range a.table() {
		h := r.h
		switch {
		case strings.HasPrefix(r.Path, fhirPrefix):
			h = fhirAccept(h)
		case r.Method == http.MethodGet:
			h = csvCapable(h) // every JSON read can be had as CSV (csv.go)
		}
		mux.HandleFunc(r.Method+" "+r.Path, a.authorise(h, r.Roles...))
	}
	// Public, as an API's description and a FHIR server's capabilities
	// are: they hold no data, and a client reads them before it has a key.
	mux.HandleFunc("GET /fhir/r4/metadata", fhirAccept(a.fhirMetadata))
	mux.HandleFunc("GET /v1/openapi.json", a.openAPI)
}
