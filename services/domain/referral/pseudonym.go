package referral

import (
	"slices"
	"strings"
	"unicode"
)

// Initials returns the first letter of each name, upper case and
// dot-separated ("S.E."); "?" when there is no name. They are all of a
// person's name that a pseudonymised view shows.
func Initials(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		for _, r := range strings.TrimSpace(n) {
			if unicode.IsLetter(r) {
				b.WriteRune(unicode.ToUpper(r))
				b.WriteByte('.')
				break
			}
		}
	}
	if b.Len() == 0 {
		return "?"
	}
	return b.String()
}

// Pseudonym is a referral as a pseudonymised view shows it: the person's
// initials and the coded facts that run the service (source, referring
// organisation, practice, needs, urgency, language and contact method,
// whether a safeguarding concern was raised and consent given). It is a
// list of what may be shown, not of what is hidden, so a field added to a
// Submission stays out of it until it is added here. Everything that
// identifies the person (name, NHS number, date of birth, postcode, phone,
// email) or may (free text: what matters, safeguarding details,
// accessibility needs; the names of the referrer and of who recorded
// consent, who may be the person; the referrer's role; the external
// reference) is left out.
type Pseudonym struct {
	Source       string            `json:"source"`
	Referrer     PseudonymReferrer `json:"referrer"`
	Person       PseudonymPerson   `json:"person"`
	GPPractice   string            `json:"gp_practice"`
	Needs        []string          `json:"needs"`
	Urgency      string            `json:"urgency"`
	Safeguarding struct {
		Concern bool `json:"concern"`
	} `json:"safeguarding"`
	Consent struct {
		Given      bool   `json:"given"`
		RecordedAt string `json:"recorded_at"`
	} `json:"consent"`
}

// PseudonymReferrer is the referring organisation (an ODS code).
type PseudonymReferrer struct {
	Organisation string `json:"organisation"`
}

// PseudonymPerson is the person as a pseudonymised view shows them.
type PseudonymPerson struct {
	Initials          string `json:"initials"`
	PreferredContact  string `json:"preferred_contact,omitempty"`
	Language          string `json:"language,omitempty"`
	InterpreterNeeded bool   `json:"interpreter_needed"`
}

// Pseudonymised returns the submission as a pseudonymised view shows it.
func (s Submission) Pseudonymised() Pseudonym {
	p := Pseudonym{
		Source:     s.Source,
		Referrer:   PseudonymReferrer{Organisation: s.Referrer.Organisation},
		GPPractice: s.GPPractice,
		Needs:      slices.Clone(s.Needs),
		Urgency:    s.Urgency,
		Person: PseudonymPerson{Initials: Initials(s.Person.GivenName, s.Person.FamilyName), PreferredContact: s.Person.PreferredContact,
			Language: s.Person.Language, InterpreterNeeded: s.Person.InterpreterNeeded},
	}
	p.Safeguarding.Concern = s.Safeguarding.Concern
	p.Consent.Given, p.Consent.RecordedAt = s.Consent.Given, s.Consent.RecordedAt
	return p
}

// Submission returns a submission that holds only what the pseudonym
// shows (no name: the initials are the pseudonym's), for a front door
// that renders submissions.
func (p Pseudonym) Submission() Submission {
	return Submission{
		Source:     p.Source,
		Referrer:   Referrer{Organisation: p.Referrer.Organisation},
		GPPractice: p.GPPractice,
		Needs:      slices.Clone(p.Needs),
		Urgency:    p.Urgency,
		Person: Person{PreferredContact: p.Person.PreferredContact, Language: p.Person.Language,
			InterpreterNeeded: p.Person.InterpreterNeeded},
		Safeguarding: Safeguarding{Concern: p.Safeguarding.Concern},
		Consent:      Consent{Given: p.Consent.Given, RecordedAt: p.Consent.RecordedAt},
	}
}
