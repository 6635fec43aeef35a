package referral

import (
	"slices"
	"time"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/kernel"
)

// The demographics the PRSB Social Prescribing Standard's minimum dataset
// asks for beyond name, date of birth and address: sex and ethnic category,
// each optional, as codes from the NHS Data Dictionary's closed sets; and
// the age band, computed at receipt. All three are classified coded
// (docs/PRIVACY.md): counts by them survive an erasure.

// sexes is the controlled list of the NHS Data Dictionary's PERSON STATED
// GENDER CODE, by wire name: male (1), female (2), indeterminate (9),
// not_known (X).
var sexes = enumNames(pathwayv1.Sex(0).Descriptor().Values(), "SEX_")

// SexNames returns the wire names of every sex code.
func SexNames() []string { return sexes.names }

// SexName returns the wire name of a sex code ("" when not recorded).
func SexName(s pathwayv1.Sex) string { return sexes.name[int32(s)] }

// SexCode returns the NHS Data Dictionary's PERSON STATED GENDER CODE of a
// sex ("1", "2", "9", "X"), "" when not recorded.
func SexCode(s pathwayv1.Sex) string {
	switch s {
	case pathwayv1.Sex_SEX_MALE:
		return "1"
	case pathwayv1.Sex_SEX_FEMALE:
		return "2"
	case pathwayv1.Sex_SEX_INDETERMINATE:
		return "9"
	case pathwayv1.Sex_SEX_NOT_KNOWN:
		return "X"
	}
	return ""
}

// ParseSex returns the sex of a wire name, and false for one not in the
// list ("" is SEX_UNSPECIFIED, true).
func ParseSex(name string) (pathwayv1.Sex, bool) {
	if name == "" {
		return pathwayv1.Sex_SEX_UNSPECIFIED, true
	}
	n, ok := sexes.number[name]
	return pathwayv1.Sex(n), ok
}

// EthnicCategory is one code of the NHS Data Dictionary's ETHNIC CATEGORY
// (the 2001 census categories England uses), with its display.
type EthnicCategory struct {
	Code, Display string
}

// ethnicCategories is the closed set, in the Data Dictionary's order.
var ethnicCategories = []EthnicCategory{
	{"A", "White - British"},
	{"B", "White - Irish"},
	{"C", "White - Any other White background"},
	{"D", "Mixed - White and Black Caribbean"},
	{"E", "Mixed - White and Black African"},
	{"F", "Mixed - White and Asian"},
	{"G", "Mixed - Any other mixed background"},
	{"H", "Asian or Asian British - Indian"},
	{"J", "Asian or Asian British - Pakistani"},
	{"K", "Asian or Asian British - Bangladeshi"},
	{"L", "Asian or Asian British - Any other Asian background"},
	{"M", "Black or Black British - Caribbean"},
	{"N", "Black or Black British - African"},
	{"P", "Black or Black British - Any other Black background"},
	{"R", "Other Ethnic Groups - Chinese"},
	{"S", "Other Ethnic Groups - Any other ethnic group"},
	{"Z", "Not stated"},
	{"99", "Not known"},
}

// EthnicCategories returns the NHS ETHNIC CATEGORY codes with their
// displays, in order: A to H, J to N, P, R, S, Z (not stated) and 99 (not
// known).
func EthnicCategories() []EthnicCategory { return slices.Clone(ethnicCategories) }

// EthnicCategoryCodes returns the codes of EthnicCategories.
func EthnicCategoryCodes() []string {
	codes := make([]string, len(ethnicCategories))
	for i, c := range ethnicCategories {
		codes[i] = c.Code
	}
	return codes
}

// EthnicCategoryDisplay returns the display of an ETHNIC CATEGORY code,
// and false for a code not in the set.
func EthnicCategoryDisplay(code string) (string, bool) {
	for _, c := range ethnicCategories {
		if c.Code == code {
			return c.Display, true
		}
	}
	return "", false
}

// ageBands are the bands NHS Digital's publications count people in,
// by their lower bound: 0-17, 18-24, then ten years each to 75-84, and
// 85+.
var ageBands = []struct {
	from int
	name string
}{
	{0, "0-17"}, {18, "18-24"}, {25, "25-34"}, {35, "35-44"}, {45, "45-54"},
	{55, "55-64"}, {65, "65-74"}, {75, "75-84"}, {85, "85+"},
}

// AgeBandNames returns every age band, youngest first.
func AgeBandNames() []string {
	names := make([]string, len(ageBands))
	for i, b := range ageBands {
		names[i] = b.name
	}
	return names
}

// AgeBand returns the band of an age in whole years ("0-17" ... "85+").
func AgeBand(age int) string {
	band := ageBands[0].name
	for _, b := range ageBands {
		if age >= b.from {
			band = b.name
		}
	}
	return band
}

// AgeBandAt returns the age band, on the UK date of at, of a person born on
// dob; "" when dob is nil.
func AgeBandAt(dob *pathwayv1.Date, at time.Time) string {
	if dob == nil {
		return ""
	}
	return AgeBand(Age(dob, at.In(kernel.UKTime())))
}
