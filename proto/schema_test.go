package proto_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// buf runs the pinned buf (proto/tools/go.mod) in this directory.
func buf(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "-modfile=tools/go.mod", "buf"}, args...)...)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestGeneratedCodeIsCurrent(t *testing.T) {
	tmp := t.TempDir()
	if out, err := buf(t, "generate", "--output", tmp); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, out)
	}
	fresh, err := filepath.Glob(filepath.Join(tmp, "pathway", "v1", "*.pb.go"))
	if err != nil || len(fresh) == 0 {
		t.Fatalf("buf generate wrote no Go files (%v)", err)
	}
	committed, _ := filepath.Glob(filepath.Join("pathway", "v1", "*.pb.go"))
	if len(committed) != len(fresh) {
		t.Errorf("%d generated files committed, generation gives %d: run `go generate ./proto/...`", len(committed), len(fresh))
	}
	for _, f := range fresh {
		rel, _ := filepath.Rel(tmp, f)
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(rel)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run `go generate ./proto/...` and commit the result", rel)
		}
	}
}

func TestSchemaLint(t *testing.T) {
	if out, err := buf(t, "lint"); err != nil {
		t.Fatalf("buf lint: %v\n%s", err, out)
	}
}

// TestSchemaCompatible checks the schema against every earlier version of
// it in the git history: an event appended under any of them must stay
// readable, so fields are only ever added.
func TestSchemaCompatible(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not a git checkout: no earlier schema to compare with")
	}
	root := strings.TrimSpace(string(top))
	revs, err := exec.Command("git", "-C", root, "log", "--format=%H", "--", "proto/pathway").Output()
	if err != nil {
		t.Fatalf("git log: %v", err)
	}
	commits := strings.Fields(string(revs))
	if len(commits) == 0 {
		t.Skip("no committed schema yet")
	}
	const most = 30
	if len(commits) > most {
		commits = append(commits[:most-1], commits[len(commits)-1])
	}
	for _, c := range commits {
		against := filepath.Join(root, ".git") + "#ref=" + c + ",subdir=proto"
		if out, err := buf(t, "breaking", "--against", against); err != nil {
			t.Errorf("schema breaks compatibility with commit %.12s: %v\n%s", c, err, out)
		}
	}
	t.Logf("compatible with %d earlier schema versions", len(commits))
}

// TestEventCatalogue checks that every event the pathway needs exists, so
// that later work adds behaviour, not schema.
func TestEventCatalogue(t *testing.T) {
	files := []protoreflect.FileDescriptor{
		pathwayv1.File_pathway_v1_referral_proto, pathwayv1.File_pathway_v1_worker_proto,
		pathwayv1.File_pathway_v1_partner_proto, pathwayv1.File_pathway_v1_handoff_proto,
	}
	have := map[string]bool{}
	for _, f := range files {
		for i := range f.Messages().Len() {
			have[string(f.Messages().Get(i).Name())] = true
		}
	}
	for _, name := range []string{
		"ReferralReceived", "ReferralTriaged", "SafeguardingEscalated", "ReferralWaitlisted",
		"ReferralAssigned", "ReferralReassigned", "ContactRecorded", "SupportPlanAgreed",
		"OutcomeMeasured", "ReferralDischarged", "ReferralCancelled", "ReferralReopened", "ReferralMerged",
		"WorkerRegistered", "WorkerCapacityChanged", "WorkerAvailabilityChanged", "WorkerDeactivated",
		"PartnerRegistered", "PartnerUpdated", "ServiceRegistered", "ServiceUpdated", "ServiceCapacityChanged",
		"HandoffRequested", "HandoffAccepted", "HandoffRejected", "HandoffStarted", "HandoffPutOnHold",
		"HandoffCompleted", "HandoffFailed", "HandoffCancelled", "HandoffExpired",
	} {
		if !have[name] {
			t.Errorf("event %s is missing from the schema", name)
		}
	}
	statuses := pathwayv1.HandoffStatus(0).Descriptor().Values()
	for _, s := range []string{"REQUESTED", "ACCEPTED", "REJECTED", "IN_PROGRESS", "ON_HOLD", "COMPLETED", "FAILED", "CANCELLED", "ENTERED_IN_ERROR"} {
		if statuses.ByName(protoreflect.Name("HANDOFF_STATUS_"+s)) == nil {
			t.Errorf("handoff status %s is missing", s)
		}
	}
}

// TestEveryFieldClassified holds the schema to its data protection rule:
// every scalar, enum and repeated field, and every field of a type from
// outside the schema, says what kind of data it holds. A message-typed
// field of the schema may leave it to its own fields. The event store
// seals what is classified personal or special category, so a field
// added without a classification could carry personal data into the log
// in clear.
func TestEveryFieldClassified(t *testing.T) {
	files := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("pathway.v1", func(fd protoreflect.FileDescriptor) bool {
		files++
		var walk func(msgs protoreflect.MessageDescriptors)
		walk = func(msgs protoreflect.MessageDescriptors) {
			for i := range msgs.Len() {
				md := msgs.Get(i)
				for j := range md.Fields().Len() {
					f := md.Fields().Get(j)
					c := proto.GetExtension(f.Options(), pathwayv1.E_Classification).(pathwayv1.Classification)
					own := f.Message() != nil && !f.IsList() && !f.IsMap() && f.Message().ParentFile().Package() == "pathway.v1"
					if c == pathwayv1.Classification_CLASSIFICATION_UNSPECIFIED && !own {
						t.Errorf("%s: no classification: add [(pathway.v1.classification) = ...] (see classification.proto)", f.FullName())
					}
				}
				walk(md.Messages())
			}
		}
		walk(fd.Messages())
		return true
	})
	if files < 7 {
		t.Fatalf("found %d files of package pathway.v1, want the whole schema", files)
	}
}
