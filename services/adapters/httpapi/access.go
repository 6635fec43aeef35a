package httpapi

import (
	"context"
	"strings"

	"github.com/pathway-sp/pathway/services/access"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/keys"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Need-to-know: which referrals a key reaches. The route table says what
// a role may do; these rules say to which referrals. A referral a key may
// not reach answers exactly as a missing one (404), so its existence does
// not leak.
//
//   - A referrer reaches the referrals its own organisation made.
//   - A link worker's key reaches the referrals of the worker it acts for
//     (those assigned to it, including those it discharged, until another
//     worker takes them) and those waiting on its PCN's waitlist; with the
//     team scope, every referral of its PCN: also those assigned to the
//     PCN's other workers. A key without a worker (made before keys named
//     workers) reaches none.
//   - Other staff reach every referral.
//
// What a key sees of the person: an ops key without the personal_data
// scope sees pseudonymised views (pseudonymised): a referral's person as
// initials and coded facts (referral.Pseudonym, in JSON and in FHIR) and
// its triage without the staff's free text, its timeline's events without
// free text (codedDetails), and a handoff without the shared data and the
// note. Other roles see all that their role's routes show.

// visible reports whether key may reach ref. Its error is a read error.
func (a *api) visible(ctx context.Context, key keys.Key, ref *referral.Referral) (bool, error) {
	switch key.Role {
	case keys.RoleReferrer:
		return ref.Received().GetReferrer().GetOrganisation() == key.Organisation, nil
	case keys.RoleLinkWorker:
		return a.linkWorkerReaches(ctx, key, ref)
	}
	return true, nil
}

// linkWorkerReaches reports whether a link worker's key may reach ref
// (access.LinkWorkerReaches, which the dashboard's workspace asks too).
func (a *api) linkWorkerReaches(ctx context.Context, key keys.Key, ref *referral.Referral) (bool, error) {
	return access.LinkWorkerReaches(ctx, a.store, key, ref)
}

// pseudonymised reports whether key sees pseudonymised views of people:
// an ops key without the personal_data scope.
func pseudonymised(key keys.Key) bool {
	return key.Role == keys.RoleOps && !key.Has(keys.ScopePersonalData)
}

// codeFields are the string fields of events that hold codes set by
// pathway or its rules, never text a person wrote: with the ids (fields
// named *_id), the only strings a pseudonymised timeline shows. Any other
// string (a note, a reason, what matters, a goal, a concern) is left out,
// and so is a string field added later, until it is listed here.
var codeFields = map[protoreflect.Name]bool{"queue": true, "rule_id": true, "rules_version": true, "eligibility_failures": true, "escalated_to": true}

// codedDetails renders an event's fields as details does, without its
// free text: every string field that is neither an id nor in codeFields
// is cleared, in nested messages too.
func codedDetails(m proto.Message) map[string]any {
	m = proto.Clone(m)
	clearFreeText(m.ProtoReflect())
	return details(m)
}

func clearFreeText(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			m.Clear(fd)
		case fd.Kind() == protoreflect.StringKind:
			if !strings.HasSuffix(string(fd.Name()), "_id") && !codeFields[fd.Name()] {
				m.Clear(fd)
			}
		case fd.Message() != nil && fd.IsList():
			for i := range v.List().Len() {
				clearFreeText(v.List().Get(i).Message())
			}
		case fd.Message() != nil:
			clearFreeText(v.Message())
		}
		return true
	})
}
