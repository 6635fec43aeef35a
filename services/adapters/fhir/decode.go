package fhir

import (
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/services/domain/kernel"
	"github.com/pathway-sp/pathway/services/domain/referral"
)

var priorityToUrgency = map[string]string{"routine": "routine", "urgent": "high", "asap": "urgent", "stat": "urgent"}
var urgencyToPriority = map[string]string{"routine": "routine", "high": "urgent", "urgent": "asap"}

// DecodeServiceRequest maps a ServiceRequest to a submission, reporting
// every problem it finds. It never panics. The submission still needs
// Validate (AllIssues reports both at once); the issues here are about the
// FHIR structure. References resolve among the contained resources.
func DecodeServiceRequest(body []byte) (referral.Submission, []Issue) {
	var sr serviceRequest
	if issues := unmarshalResource(body, &sr, "ServiceRequest"); issues != nil {
		return referral.Submission{}, issues
	}
	d := decodeRequest(sr, &resolver{contained: containedOf(sr.Contained)}, requestOptions{source: "gp_practice"})
	if !d.social {
		d.issues = append(d.issues, issue("value", "ServiceRequest.code", "code must include SNOMED CT %s (Referral to social prescribing service)", CodeSocialPrescribing))
	}
	return d.sub, d.issues
}

// unmarshalResource decodes body into v, a resource of type want, or
// returns the issue that stops it.
func unmarshalResource(body []byte, v any, want string) []Issue {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return []Issue{issue("structure", want+"."+te.Field, "element %s has the wrong JSON type: want %s", te.Field, te.Type.Kind())}
		}
		return []Issue{issue("structure", want, "the body is not a JSON object")}
	}
	if h := headOf(body); h.ResourceType != want {
		return []Issue{issue("invalid", want+".resourceType", "resourceType must be %s", want)}
	}
	return nil
}

// requestOptions says what a ServiceRequest's context adds.
type requestOptions struct {
	// source is the referral source when no category gives pathway's.
	source string
	// sender names the message's sender (MessageHeader.sender): the
	// referring organisation when the requester does not give one.
	sender *reference
	// bundleConsent: a Consent anywhere in the message counts when
	// supportingInfo names none (BaRS sends it as an entry).
	bundleConsent bool
}

// decoded is a ServiceRequest read into a submission.
type decoded struct {
	sub    referral.Submission
	issues []Issue
	// social: the service asked for is social prescribing (serviceOf).
	social bool
}

// decodeRequest maps sr, whose references rs resolves, to a submission.
func decodeRequest(sr serviceRequest, rs *resolver, opt requestOptions) decoded {
	var d decoded
	sub := &d.sub
	if sr.Status != "active" {
		d.issues = append(d.issues, issue("value", "ServiceRequest.status", "status must be active for a new referral"))
	}
	if sr.Intent != "plan" && sr.Intent != "order" {
		d.issues = append(d.issues, issue("value", "ServiceRequest.intent", "intent must be plan (as BaRS fixes it) or order"))
	}
	d.social = serviceOf(sr, rs)

	// Subject: NHS number and the Patient.
	if sr.Subject == nil {
		d.issues = append(d.issues, issue("required", "ServiceRequest.subject", "subject is required"))
	} else {
		if id := sr.Subject.Identifier; id != nil {
			if !sameSystem(id.System, SystemNHSNumber) {
				d.issues = append(d.issues, issue("value", "ServiceRequest.subject.identifier.system", "the subject is identified by NHS number (system %s)", SystemNHSNumber))
			}
			sub.Person.NHSNumber = id.Value
		}
		if sr.Subject.Reference != "" {
			var p patient
			if !rs.resolveAs(sr.Subject, "Patient", &p) {
				d.issues = append(d.issues, issue("structure", "ServiceRequest.subject.reference", "subject.reference must name a Patient sent with the request (contained, or an entry of the message)"))
			} else {
				d.issues = append(d.issues, fillPerson(sub, p, rs)...)
			}
		} else {
			d.issues = append(d.issues, issue("required", "ServiceRequest.subject.reference", "the person's details are required as a Patient referenced from subject"))
		}
	}

	// Requester: the referring practitioner and organisation.
	d.issues = append(d.issues, fillReferrer(sub, sr.Requester, rs, opt.sender)...)
	if sub.GPPractice == "" && !gpGiven(sr, rs) {
		sub.GPPractice = sub.Referrer.Organisation
	}

	sub.Source = opt.source
	for _, c := range sr.Category {
		for _, cd := range c.Coding {
			if cd.System == SystemSource {
				sub.Source = cd.Code
			} else {
				sub.Category = append(sub.Category, referral.Coding{System: cd.System, Code: cd.Code, Display: cd.Display})
			}
		}
	}
	if sr.Meta != nil {
		sub.Profiles = sr.Meta.Profile
	}
	sub.AuthoredOn = sr.AuthoredOn
	for _, rc := range sr.ReasonCode {
		found := false
		for _, cd := range rc.Coding {
			if cd.System == SystemNeed {
				sub.Needs = append(sub.Needs, cd.Code)
				found = true
			}
		}
		if !found && rc.Text != "" {
			sub.Needs = append(sub.Needs, rc.Text)
		}
	}
	if sr.Priority != "" {
		u, ok := priorityToUrgency[sr.Priority]
		if !ok {
			d.issues = append(d.issues, issue("value", "ServiceRequest.priority", "priority must be routine, urgent, asap or stat"))
		}
		sub.Urgency = u
	} else {
		sub.Urgency = "routine"
	}
	var notes []string
	for _, n := range sr.Note {
		if n.AuthorString == "safeguarding" {
			sub.Safeguarding = referral.Safeguarding{Concern: true, Details: n.Text}
			continue
		}
		notes = append(notes, n.Text)
	}
	sub.WhatMatters = strings.Join(notes, "\n")
	for _, id := range sr.Identifier {
		if id.System == SystemExternalRef {
			sub.ExternalReference = id.Value
		}
	}

	// Consent: a Consent from supportingInfo, or in a message any Consent
	// sent.
	var consents []json.RawMessage
	for _, si := range sr.SupportingInfo {
		if raw, typ, ok := rs.resolve(&si); ok && typ == "Consent" {
			consents = append(consents, raw)
		}
	}
	if len(consents) == 0 && opt.bundleConsent {
		for _, raw := range rs.all {
			if headOf(raw).ResourceType == "Consent" {
				consents = append(consents, raw)
			}
		}
	}
	for _, raw := range consents {
		var c consent
		if json.Unmarshal(raw, &c) != nil {
			continue
		}
		sub.Consent.Given = c.Status == "active"
		sub.Consent.RecordedAt = c.DateTime
		sub.Consent.RecordedBy = performerOf(c, rs)
		if sub.Consent.RecordedBy == "" {
			// Who recorded it is not said: the referrer, who sends the
			// consent with the referral.
			sub.Consent.RecordedBy = sub.Referrer.Name
		}
		break
	}
	if len(consents) == 0 {
		d.issues = append(d.issues, issue("required", "ServiceRequest.supportingInfo", "consent to the referral is required: a Consent referenced from supportingInfo (or, in a message, sent as an entry)"))
	}
	return d
}

// serviceOf reports whether sr asks for social prescribing: SNOMED CT
// 871731000000106 in its code, or in the type, category or specialty of a
// HealthcareService its performer names (BaRS: the performer is the
// service the request goes to).
func serviceOf(sr serviceRequest, rs *resolver) bool {
	if hasCoding(sr.Code, SystemSNOMED, CodeSocialPrescribing) {
		return true
	}
	for _, p := range sr.Performer {
		var hs healthcareService
		if !rs.resolveAs(&p, "HealthcareService", &hs) {
			continue
		}
		for _, list := range [][]codeableConcept{hs.Type, hs.Category, hs.Specialty} {
			for i := range list {
				if hasCoding(&list[i], SystemSNOMED, CodeSocialPrescribing) {
					return true
				}
			}
		}
	}
	return false
}

// fillReferrer works out the referring practitioner and organisation from
// requester: an identifier (ODS), or a reference to an Organization, a
// PractitionerRole (its practitioner and organization) or a Practitioner
// (with the organization of a PractitionerRole sent for it); when none
// gives an ODS code, the message's sender.
func fillReferrer(sub *referral.Submission, req *reference, rs *resolver, sender *reference) []Issue {
	expr := "ServiceRequest.requester.identifier"
	var name string
	if req != nil {
		name = req.Display
		if req.Identifier != nil && sameSystem(req.Identifier.System, SystemODS) {
			sub.Referrer.Organisation = req.Identifier.Value
		}
		if req.Reference != "" {
			expr = "ServiceRequest.requester.reference"
		}
		var org organization
		var role practitionerRole
		var prac practitioner
		switch {
		case rs.resolveAs(req, "Organization", &org):
			sub.Referrer.Organisation, sub.Referrer.OrganisationName = cmp.Or(odsOf(org.Identifier), sub.Referrer.Organisation), org.Name
			name = cmp.Or(name, org.Name)
		case rs.resolveAs(req, "PractitionerRole", &role):
			fillRole(sub, role, rs, &name)
		case rs.resolveAs(req, "Practitioner", &prac):
			fillPractitioner(sub, prac, &name)
			for _, raw := range rs.all {
				var r practitionerRole
				if headOf(raw).ResourceType != "PractitionerRole" || json.Unmarshal(raw, &r) != nil || r.Practitioner == nil || r.Practitioner.Reference != req.Reference {
					continue
				}
				if code, _ := rs.organisationOf(r.Organization); code != "" || sub.Referrer.Organisation == "" {
					fillRole(sub, r, rs, &name)
				}
				if sub.Referrer.Organisation != "" {
					break
				}
			}
		}
	}
	if sub.Referrer.Organisation == "" && sender != nil {
		code, orgName := rs.organisationOf(sender)
		sub.Referrer.Organisation = code
		if code != "" {
			sub.Referrer.OrganisationName = orgName
		}
		name = cmp.Or(name, orgName)
	}
	sub.Referrer.Name = name
	if sub.Referrer.Organisation == "" {
		return []Issue{issue("required", expr, "the referring organisation is identified by ODS code (system %s): in requester.identifier, or an Organization or PractitionerRole the requester names", SystemODS)}
	}
	return nil
}

// fillRole takes the practitioner, role and organisation of a
// PractitionerRole.
func fillRole(sub *referral.Submission, role practitionerRole, rs *resolver, name *string) {
	var prac practitioner
	if rs.resolveAs(role.Practitioner, "Practitioner", &prac) {
		fillPractitioner(sub, prac, name)
	} else if role.Practitioner != nil {
		*name = cmp.Or(*name, role.Practitioner.Display)
	}
	if len(role.Code) > 0 {
		c := role.Code[0]
		if c.Text != "" {
			sub.Referrer.Role = c.Text
		} else if len(c.Coding) > 0 {
			sub.Referrer.Role = c.Coding[0].Display
		}
	}
	if code, orgName := rs.organisationOf(role.Organization); code != "" {
		sub.Referrer.Organisation, sub.Referrer.OrganisationName = code, orgName
	} else if orgName != "" && sub.Referrer.OrganisationName == "" {
		sub.Referrer.OrganisationName = orgName
	}
}

func fillPractitioner(sub *referral.Submission, p practitioner, name *string) {
	*name = cmp.Or(*name, nameOf(p.Name))
	for _, id := range p.Identifier {
		if id.Value != "" {
			sub.Referrer.Practitioner = id.System + "|" + id.Value
			break
		}
	}
}

// performerOf is who a Consent says recorded it: a performer's display,
// or the name of the Practitioner, PractitionerRole or Organization it
// names.
func performerOf(c consent, rs *resolver) string {
	for _, p := range c.Performer {
		if p.Display != "" {
			return p.Display
		}
		var prac practitioner
		var org organization
		var role practitionerRole
		switch {
		case rs.resolveAs(&p, "Practitioner", &prac):
			return nameOf(prac.Name)
		case rs.resolveAs(&p, "PractitionerRole", &role) && rs.resolveAs(role.Practitioner, "Practitioner", &prac):
			return nameOf(prac.Name)
		case rs.resolveAs(&p, "Organization", &org):
			return org.Name
		}
	}
	return ""
}

// gpGiven reports whether the Patient sr names has a generalPractitioner.
func gpGiven(sr serviceRequest, rs *resolver) bool {
	var p patient
	return sr.Subject != nil && rs.resolveAs(sr.Subject, "Patient", &p) && len(p.GeneralPractitioner) > 0
}

func fillPerson(sub *referral.Submission, p patient, rs *resolver) []Issue {
	var issues []Issue
	for _, id := range p.Identifier {
		if sameSystem(id.System, SystemNHSNumber) && sub.Person.NHSNumber == "" {
			sub.Person.NHSNumber = id.Value
		}
	}
	if len(p.Name) > 0 {
		sub.Person.FamilyName = p.Name[0].Family
		sub.Person.GivenName = strings.Join(p.Name[0].Given, " ")
	}
	sub.Person.DateOfBirth = p.BirthDate
	if len(p.Address) > 0 {
		sub.Person.Postcode = p.Address[0].PostalCode
	}
	// The person's own phone and email: Patient.telecom, else a contact
	// whose relationship is ONESELF; the best ranked first.
	telecom := p.Telecom
	if len(telecom) == 0 {
		for _, c := range p.Contact {
			for _, rel := range c.Relationship {
				if hasCoding(&rel, SystemRoleCode, "ONESELF") {
					telecom = append(telecom, c.Telecom...)
				}
			}
		}
	}
	telecom = slices.Clone(telecom)
	slices.SortStableFunc(telecom, func(a, b contactPoint) int { return cmp.Compare(rankOf(a), rankOf(b)) })
	for _, t := range telecom {
		switch {
		case t.System == "phone" && sub.Person.Phone == "":
			sub.Person.Phone = t.Value
		case t.System == "email" && sub.Person.Email == "":
			sub.Person.Email = t.Value
		}
	}
	if len(p.Communication) > 0 && len(p.Communication[0].Language.Coding) > 0 {
		cd := p.Communication[0].Language.Coding[0]
		sub.Person.Language = cd.Code
		if cd.System != SystemBCP47 {
			sub.Person.LanguageSystem = cd.System
		}
	}
	sub.Person.Sex = sexOf(p.Gender)
	for _, ext := range p.Extension {
		if ext.URL != ExtensionEthnicCategory || ext.ValueCodeableConcept == nil {
			continue
		}
		for _, c := range ext.ValueCodeableConcept.Coding {
			if c.System == SystemEthnicCategory {
				sub.Person.Ethnicity = c.Code
			}
		}
	}
	for _, gp := range p.GeneralPractitioner {
		if gp.Identifier != nil && sameSystem(gp.Identifier.System, SystemODS) {
			sub.GPPractice = gp.Identifier.Value
			break
		}
		if code, _ := rs.organisationOf(&gp); code != "" {
			sub.GPPractice = code
			break
		}
	}
	if len(p.GeneralPractitioner) > 0 && sub.GPPractice == "" {
		issues = append(issues, issue("required", "Patient.generalPractitioner", "the GP practice is identified by ODS code (system %s): an identifier, or an Organization or PractitionerRole sent with the request that has one", SystemODS))
	}
	return issues
}

// rankOf orders contact points: rank 1 first, an unranked one last.
func rankOf(c contactPoint) int {
	if c.Rank <= 0 {
		return math.MaxInt
	}
	return c.Rank
}

func hasCoding(c *codeableConcept, system, code string) bool {
	if c == nil {
		return false
	}
	for _, cd := range c.Coding {
		if cd.System == system && cd.Code == code {
			return true
		}
	}
	return false
}

// fieldPaths maps submission fields to where they are in a ServiceRequest.
var fieldPaths = map[string]string{
	"source":                     "ServiceRequest.category",
	"referrer.name":              "ServiceRequest.requester.display",
	"referrer.organisation":      "ServiceRequest.requester.identifier",
	"person.nhs_number":          "ServiceRequest.subject.identifier",
	"person.given_name":          "Patient.name.given",
	"person.family_name":         "Patient.name.family",
	"person.date_of_birth":       "Patient.birthDate",
	"person.postcode":            "Patient.address.postalCode",
	"person.phone":               "Patient.telecom",
	"person.email":               "Patient.telecom",
	"person.language":            "Patient.communication.language",
	"gp_practice":                "Patient.generalPractitioner.identifier",
	"needs":                      "ServiceRequest.reasonCode",
	"what_matters":               "ServiceRequest.note",
	"urgency":                    "ServiceRequest.priority",
	"safeguarding.details":       "ServiceRequest.note",
	"consent.given":              "Consent.status",
	"consent.recorded_by":        "Consent.performer",
	"consent.recorded_at":        "Consent.dateTime",
	"external_reference":         "ServiceRequest.identifier",
	"person.preferred_contact":   "Patient.telecom",
	"person.language_system":     "Patient.communication.language",
	"person.sex":                 "Patient.gender",
	"person.ethnicity":           "Patient.extension",
	"authored_on":                "ServiceRequest.authoredOn",
	"category":                   "ServiceRequest.category",
	"profiles":                   "ServiceRequest.meta.profile",
	"sender_reference":           "Bundle.entry.fullUrl",
	"referrer.practitioner":      "Practitioner.identifier",
	"referrer.organisation_name": "Organization.name",
	"referrer.role":              "PractitionerRole.code",
}

// IssuesFromFieldErrors turns the submission's invalid fields into
// OperationOutcome issues that point into the ServiceRequest: "required"
// for a missing field, "value" for a wrong one.
func IssuesFromFieldErrors(errs []kernel.FieldError) []Issue {
	out := make([]Issue, 0, len(errs))
	for _, e := range errs {
		field := e.Field
		if i := strings.IndexByte(field, '['); i >= 0 {
			field = field[:i]
		}
		path, ok := fieldPaths[field]
		if !ok {
			path = "ServiceRequest"
		}
		code := "value"
		if e.Missing {
			code = "required"
		}
		out = append(out, Issue{Severity: "error", Code: code, Diagnostics: e.Field + ": " + e.Reason, Expression: []string{path}})
	}
	return out
}

// AllIssues returns every issue of a request at once: structure, what
// the decoder found, and then each invalid field of sub (Validate at now)
// whose place no structure issue already names.
func AllIssues(sub referral.Submission, structure []Issue, now time.Time) []Issue {
	out := slices.Clone(structure)
	named := map[string]bool{}
	for _, is := range structure {
		for _, e := range is.Expression {
			named[e] = true
			// requester.reference and requester.identifier are one place.
			if strings.HasPrefix(e, "ServiceRequest.requester") {
				named["ServiceRequest.requester.identifier"] = true
			}
			if strings.HasPrefix(e, "ServiceRequest.subject") {
				named["ServiceRequest.subject.identifier"] = true
			}
		}
	}
	for _, is := range IssuesFromFieldErrors(sub.Validate(now)) {
		if len(is.Expression) > 0 && named[is.Expression[0]] {
			continue
		}
		out = append(out, is)
	}
	return out
}
