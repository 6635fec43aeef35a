package partner_test

import (
	"testing"

	"github.com/pathway-sp/pathway/services/domain/partner"
)

func TestNormalisePhone(t *testing.T) {
	for _, tc := range []struct {
		number, ext   string
		want, wantExt string
		wantInvalid   bool
	}{
		{number: `"+44 1234 234567"`, ext: "100", want: "+441234234567", wantExt: "100"}, // the HSDS examples quote the number
		{number: "01642 000111", want: "+441642000111"},
		{number: "+44 (0)1642 000111", want: "+441642000111"},
		{number: "0800 123 4567", want: "+448001234567"},
		{number: "01234 234567 ext. 12", want: "+441234234567", wantExt: "12"},
		{number: "116 123", want: "116123"}, // Samaritans: a UK short number has no E.164 form
		{number: "+1 415 555 2671", want: "+14155552671"},
		{number: "12", wantInvalid: true},
		{number: "not a number", wantInvalid: true},
		{number: "01642 000111", ext: "12a", wantInvalid: true},
	} {
		got, ext, reason := partner.NormalisePhone(tc.number, tc.ext)
		if tc.wantInvalid {
			if reason == "" {
				t.Errorf("NormalisePhone(%q, %q) = %q, %q; want a reason it is invalid", tc.number, tc.ext, got, ext)
			}
			continue
		}
		if reason != "" || got != tc.want || ext != tc.wantExt {
			t.Errorf("NormalisePhone(%q, %q) = %q, %q, %q; want %q, %q", tc.number, tc.ext, got, ext, reason, tc.want, tc.wantExt)
		}
	}
}
