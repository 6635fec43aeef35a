// Package referral holds the rules of a referral to social prescribing:
// what a valid submission is, the referral's life from receipt to
// discharge, and the commands that move it. It imports no NATS or HTTP.
package referral

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// Submission is a new referral as a referrer sends it: the body of
// POST /v1/referrals (snake_case JSON), and what the FHIR front door maps a
// ServiceRequest to.
type Submission struct {
	Source            string       `json:"source"`
	Referrer          Referrer     `json:"referrer"`
	Person            Person       `json:"person"`
	GPPractice        string       `json:"gp_practice"`
	Needs             []string     `json:"needs"`
	WhatMatters       string       `json:"what_matters"`
	Urgency           string       `json:"urgency"`
	Safeguarding      Safeguarding `json:"safeguarding"`
	Consent           Consent      `json:"consent"`
	ExternalReference string       `json:"external_reference,omitempty"`
	// AuthoredOn is when the referrer wrote the referral, as sent: a FHIR
	// date or dateTime of any precision ("2021", "2021-11", "2021-11-26",
	// or a time with its zone). Empty when not sent; the receipt time
	// stands in for it then.
	AuthoredOn string `json:"authored_on,omitempty"`
	// Category is the categories a FHIR sender gave the referral (e.g. the
	// BaRS use case), kept as sent; Source is pathway's own.
	Category []Coding `json:"category,omitempty"`
	// Profiles is the FHIR profiles the sender's ServiceRequest claimed.
	Profiles []string `json:"profiles,omitempty"`
	// SenderReference is the sender's own name for its ServiceRequest in a
	// FHIR message (its fullUrl, or system|value of an identifier), by
	// which a later message names the referral.
	SenderReference string `json:"sender_reference,omitempty"`
}

// Coding is a code from a code system, as a FHIR sender gave it.
type Coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Referrer is who made the referral.
type Referrer struct {
	Name         string `json:"name"`
	Role         string `json:"role"`
	Organisation string `json:"organisation"`
	// Practitioner is the referring practitioner's identifier as a FHIR
	// sender gave it, "system|value" (e.g. an SDS role profile id).
	Practitioner string `json:"practitioner,omitempty"`
	// OrganisationName is the referring organisation's name, as sent.
	OrganisationName string `json:"organisation_name,omitempty"`
}

// Person is the person referred.
type Person struct {
	NHSNumber          string `json:"nhs_number,omitempty"`
	GivenName          string `json:"given_name"`
	FamilyName         string `json:"family_name"`
	DateOfBirth        string `json:"date_of_birth"`
	Postcode           string `json:"postcode"`
	Phone              string `json:"phone,omitempty"`
	Email              string `json:"email,omitempty"`
	PreferredContact   string `json:"preferred_contact,omitempty"`
	Language           string `json:"language,omitempty"`
	InterpreterNeeded  bool   `json:"interpreter_needed"`
	AccessibilityNeeds string `json:"accessibility_needs,omitempty"`
	// LanguageSystem is the code system of Language as a FHIR sender gave
	// it; empty for BCP 47 (urn:ietf:bcp:47).
	LanguageSystem string `json:"language_system,omitempty"`
	// Sex is the person's stated gender as the NHS Data Dictionary's
	// PERSON STATED GENDER CODE, by wire name (male, female,
	// indeterminate, not_known); optional.
	Sex string `json:"sex,omitempty"`
	// Ethnicity is the person's NHS ETHNIC CATEGORY code ("A" to "H", "J"
	// to "N", "P", "R", "S", "Z" not stated, "99" not known); optional.
	Ethnicity string `json:"ethnicity,omitempty"`
}

// Safeguarding is the referrer's safeguarding concern, if any.
type Safeguarding struct {
	Concern bool   `json:"concern"`
	Details string `json:"details,omitempty"`
}

// Consent is the person's consent to the referral.
type Consent struct {
	Given      bool   `json:"given"`
	RecordedBy string `json:"recorded_by"`
	// RecordedAt is when consent was recorded, as sent: an RFC 3339 time,
	// or a FHIR date or dateTime of any precision ("2021", "2021-11",
	// "2021-11-26").
	RecordedAt string `json:"recorded_at"`
}

// Wire names of the controlled lists, derived from the schema's enums: the
// enum value name in lower case without its prefix, e.g.
// NEED_MENTAL_HEALTH is "mental_health".

// Needs is the controlled list of needs, by wire name.
var needs = enumNames(pathwayv1.Need(0).Descriptor().Values(), "NEED_")

// Sources is the controlled list of referral sources, by wire name.
var sources = enumNames(pathwayv1.ReferralSource(0).Descriptor().Values(), "REFERRAL_SOURCE_")

// urgencies is the controlled list of urgencies, by wire name.
var urgencies = enumNames(pathwayv1.Priority(0).Descriptor().Values(), "PRIORITY_")

// contactMethods is the controlled list of contact methods, by wire name.
var contactMethods = enumNames(pathwayv1.ContactMethod(0).Descriptor().Values(), "CONTACT_METHOD_")

// enumSet maps the wire names of one enum to its numbers.
type enumSet struct {
	names  []string
	number map[string]int32
	name   map[int32]string
}

func enumNames(values protoreflect.EnumValueDescriptors, prefix string) enumSet {
	set := enumSet{number: map[string]int32{}, name: map[int32]string{}}
	for i := range values.Len() {
		v := values.Get(i)
		if v.Number() == 0 {
			continue // the UNSPECIFIED value is never on the wire
		}
		n := WireName(string(v.Name()), prefix)
		set.names = append(set.names, n)
		set.number[n] = int32(v.Number())
		set.name[int32(v.Number())] = n
	}
	return set
}

// NeedNames returns the wire names of every need, in schema order.
func NeedNames() []string { return needs.names }

// SourceNames returns the wire names of every referral source.
func SourceNames() []string { return sources.names }

// UrgencyNames returns the wire names of every urgency.
func UrgencyNames() []string { return urgencies.names }

// ContactMethodNames returns the wire names of every contact method.
func ContactMethodNames() []string { return contactMethods.names }

// WireName returns the wire name of an enum value name, e.g.
// WireName("NEED_MENTAL_HEALTH", "NEED_") is "mental_health".
func WireName(enumName, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(enumName, prefix))
}
