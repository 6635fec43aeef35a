package referral

import "google.golang.org/protobuf/proto"

// twoPeople says why referrals a and b cannot be for one person: both
// carry an NHS number and they differ, or both a date of birth and they
// differ. It returns "" when nothing in them says so. The reason names
// no value.
func twoPeople(a, b *Referral) string {
	pa, pb := a.received.GetPerson(), b.received.GetPerson()
	if na, nb := NormaliseNHSNumber(pa.GetNhsNumber()), NormaliseNHSNumber(pb.GetNhsNumber()); na != "" && nb != "" && na != nb {
		return "their NHS numbers differ"
	}
	if da, db := pa.GetDateOfBirth(), pb.GetDateOfBirth(); da != nil && db != nil && !proto.Equal(da, db) {
		return "their dates of birth differ"
	}
	return ""
}
