package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pathway-sp/pathway/events"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
	"github.com/pathway-sp/pathway/services/domain/referral"
	"github.com/pathway-sp/pathway/services/erasure"
)

const eraseUsage = `Usage:
  pathway erase --nhs-number N --ground GROUND --reason TEXT --by ID [--data DIR | --nats-url URL]
  pathway erase --referral ID  --ground GROUND --reason TEXT --by ID [--data DIR | --nats-url URL]

Erases, for good, the personal data of a person (every referral held for
the NHS number) or of one referral, and what their handoffs shared with
partners, by destroying the keys that sealed it in the event log
(crypto-shredding). An erasure event records who (--by), when and why
(--ground, --reason); the referrals' codes, times and outcome scores stay,
so counts and waits do not change. Every read then shows them as erased.

Only closed referrals can be erased: cancel or discharge them first. The
reason must identify no one: pathway refuses one that holds the person's
NHS number, name, postcode, phone or email.

GROUND is entered_in_error, subject_request, retention or other. --by is an
identifier of the administrator (a staff number, a ticket), not a name.

With --data (default ./data, env PATHWAY_DATA) it works on that data
directory's event store: if pathway serve is running on it, the command
talks to it; otherwise it opens the directory itself. With --nats-url (env
PATHWAY_NATS_URL) it talks to an external NATS. The master key comes from
PATHWAY_MASTER_KEY or --master-key (default master.key in --data).
`

func eraseCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs, data, natsURL, masterKey, auth := personalFlags("erase", eraseUsage, getenv, stderr)
	nhs := fs.String("nhs-number", "", "NHS number of the person to erase")
	ref := fs.String("referral", "", "id of the one referral to erase")
	groundName := fs.String("ground", "", "entered_in_error, subject_request, retention or other")
	reason := fs.String("reason", "", "why, in words that identify no one")
	by := fs.String("by", "", "identifier of the administrator erasing (not a name)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	ground, ok := map[string]pathwayv1.ErasureGround{
		"entered_in_error": pathwayv1.ErasureGround_ERASURE_GROUND_ENTERED_IN_ERROR,
		"subject_request":  pathwayv1.ErasureGround_ERASURE_GROUND_SUBJECT_REQUEST,
		"retention":        pathwayv1.ErasureGround_ERASURE_GROUND_RETENTION,
		"other":            pathwayv1.ErasureGround_ERASURE_GROUND_OTHER,
	}[*groundName]
	var problems []string
	if (*nhs == "") == (*ref == "") {
		problems = append(problems, "give exactly one of --nhs-number and --referral")
	}
	if *nhs != "" && !referral.ValidNHSNumber(referral.NormaliseNHSNumber(*nhs)) {
		problems = append(problems, "--nhs-number: not a valid NHS number (10 digits with a valid check digit)")
	}
	if !ok {
		problems = append(problems, "--ground: give entered_in_error, subject_request, retention or other")
	}
	if strings.TrimSpace(*reason) == "" {
		problems = append(problems, "--reason is required")
	}
	if strings.TrimSpace(*by) == "" {
		problems = append(problems, "--by is required: an identifier of who is erasing")
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "pathway erase: %s\n\n%s", strings.Join(problems, "; "), eraseUsage)
		return errUsage
	}

	l, err := openPersonalLog(ctx, *data, *natsURL, *masterKey, *auth, getenv)
	if err != nil {
		return err
	}
	defer l.close()
	js, ring, people := l.js, l.ring, l.people
	store := events.New(js, events.Options{Keys: ring})
	svc := erasure.New(store, ring, people)
	req := erasure.Request{Ground: ground, Reason: *reason, Command: events.Command{
		Actor: &pathwayv1.Actor{Id: "cli:" + strings.TrimSpace(*by), Role: pathwayv1.Role_ROLE_ADMIN},
	}}
	var res []erasure.Result
	if *ref != "" {
		r, err := svc.Referral(ctx, *ref, req)
		if err != nil {
			return err
		}
		res = []erasure.Result{r}
	} else if res, err = svc.Person(ctx, referral.NormaliseNHSNumber(*nhs), req); err != nil {
		return err
	}
	for _, r := range res {
		fmt.Fprintf(stderr, "erased referral %s (and %d handoffs) at sequence %d\n", r.ReferralID, len(r.Handoffs), r.Sequence)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"referrals": res})
}
