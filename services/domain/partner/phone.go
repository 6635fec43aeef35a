package partner

import (
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// e164Re is a stored phone number: E.164, or the digits of a UK short
// number such as 116 123 (which has no E.164 form).
var (
	e164Re      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	shortRe     = regexp.MustCompile(`^[0-9]{3,6}$`)
	extensionRe = regexp.MustCompile(`^[0-9]{1,10}$`)
)

// NormalisePhone reads a published phone number, as a directory writes
// it ("01234 234567", "+44 (0)1234 234567", "\"+44 1234 234567\"", with
// "ext. 12" or not), and returns it in E.164 (+441234234567) with its
// extension: ext when given, else one written after the number. A number
// without a country code is read as a UK number. A UK short number (116
// 123) is kept as its digits. reason, when not empty, says why the number
// is not a valid phone number (and the other results are empty).
func NormalisePhone(number, ext string) (e164, extension string, reason string) {
	n := strings.TrimSpace(number)
	n = strings.Trim(n, "\"'“”‘’ ")
	n = strings.Replace(n, "(0)", "", 1)
	if n == "" {
		return "", "", "is empty"
	}
	if len(n) > 64 {
		return "", "", "must be at most 64 characters"
	}
	ext = strings.TrimSpace(ext)
	if ext != "" && !extensionRe.MatchString(ext) {
		return "", "", "extension must be 1 to 10 digits"
	}
	p, err := phonenumbers.Parse(n, "GB")
	if err != nil {
		return "", "", "is not a phone number"
	}
	if ext == "" {
		ext = p.GetExtension()
	}
	switch {
	case phonenumbers.IsValidNumber(p):
		return phonenumbers.Format(p, phonenumbers.E164), ext, ""
	case p.GetCountryCode() == 44 && phonenumbers.IsValidShortNumberForRegion(p, "GB"):
		return phonenumbers.GetNationalSignificantNumber(p), ext, ""
	}
	return "", "", "is not a valid phone number (a UK number, or an international one starting with +)"
}

// validStoredPhone reports whether s is a phone number as pathway stores
// it (NormalisePhone's result).
func validStoredPhone(s string) bool { return e164Re.MatchString(s) || shortRe.MatchString(s) }
