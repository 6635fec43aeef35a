package dashboard

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
)

// HandoffCounts are the handoffs that need attention, on the overview.
type HandoffCounts = partners.Counts

func (h *handler) handoffCounts(now time.Time) *HandoffCounts {
	if h.cfg.Partners == nil {
		return nil
	}
	var c HandoffCounts
	h.read(h.cfg.Partners, func(p projections.Projection) { c = p.(*partners.Partners).Attention(now) })
	return &c
}

// statRow is one partner's or service's performance.
type statRow struct {
	ID, Name, Partner string
	Requested         int
	Awaiting          int
	Accepted          int
	Rejected          int
	Expired           int
	Completed         int
	Failed            int
	Cancelled         int
	// Acceptance is the acceptance rate as text ("—" without decisions).
	Acceptance string
	Bar        meter
	P50, P90   string
	Responses  int
	Outcomes   string
	// Retired is why a service left the directory (inactive, defunct).
	Retired string
}

// partnersData is the partner page's live part.
type partnersData struct {
	AsOf string
	// Filtered: the figures are of the handoffs requested in the dates
	// chosen.
	Filtered   bool
	Enabled    bool
	Counts     HandoffCounts
	PerPartner []statRow
	PerService []statRow
}

func hours(v float64) string { return span(time.Duration(v * float64(time.Hour))) }

func statRowOf(s partners.Stat, partnerNames map[string]string) statRow {
	r := statRow{ID: s.ID, Name: s.Name, Partner: partnerNames[s.PartnerID], Requested: s.Requested, Awaiting: s.Awaiting,
		Accepted: s.Accepted, Rejected: s.Rejected, Expired: s.Expired, Completed: s.Completed, Failed: s.Failed, Cancelled: s.Cancelled,
		Acceptance: "—", P50: "—", P90: "—", Responses: s.FirstResponse.N}
	if s.Accepted+s.Rejected+s.Expired > 0 {
		r.Acceptance = fmt.Sprintf("%d%%", int(math.Round(s.AcceptanceRate*100)))
		r.Bar = newMeter(s.AcceptanceRate)
	}
	if s.FirstResponse.N > 0 {
		r.P50, r.P90 = hours(s.FirstResponse.P50), hours(s.FirstResponse.P90)
	}
	var outs []string
	for _, k := range slices.Sorted(maps.Keys(s.Outcomes)) {
		outs = append(outs, fmt.Sprintf("%s: %d", strings.ReplaceAll(k, "_", " "), s.Outcomes[k]))
	}
	r.Outcomes = strings.Join(outs, ", ")
	if r.Outcomes == "" {
		r.Outcomes = "none reported"
	}
	return r
}

// partnersPage builds the partners page at now, over the handoffs
// requested in the dates of f (the counts that need attention are the
// ones now, whenever requested).
func (h *handler) partnersPage(now time.Time, f opsFilter) partnersData {
	d := partnersData{AsOf: h.clock(now), Filtered: f.Active()}
	if h.cfg.Partners == nil {
		return d
	}
	d.Enabled = true
	h.read(h.cfg.Partners, func(p projections.Projection) {
		pm := p.(*partners.Partners)
		d.Counts = pm.Attention(now)
		names := map[string]string{}
		for id, pt := range pm.Partners {
			names[id] = pt.Name
		}
		perPartner, perService := pm.StatsWhere(func(hd *partners.Handoff) bool { return f.within(hd.RequestedAt) })
		for _, s := range perPartner {
			d.PerPartner = append(d.PerPartner, statRowOf(s, names))
		}
		for _, s := range perService {
			row := statRowOf(s, names)
			if sv := pm.Services[s.ID]; sv != nil {
				row.Retired = sv.Retired // its handoffs stay counted; new ones are refused
			}
			d.PerService = append(d.PerService, row)
		}
	})
	return d
}

// csv is the page's two tables as one, for ?format=csv: a row per partner,
// then a row per service, with every figure the page shows.
func (d partnersData) csv() [][]string {
	rows := [][]string{{"level", "partner", "service", "requested", "awaiting", "accepted", "rejected", "expired", "completed",
		"failed", "cancelled", "acceptance", "first_answer_median", "first_answer_90th", "answers", "outcomes"}}
	add := func(level string, list []statRow) {
		for _, r := range list {
			partner, service := r.Name, ""
			if level == "service" {
				partner, service = r.Partner, r.Name
			}
			rows = append(rows, []string{level, partner, service, strconv.Itoa(r.Requested), strconv.Itoa(r.Awaiting),
				strconv.Itoa(r.Accepted), strconv.Itoa(r.Rejected), strconv.Itoa(r.Expired), strconv.Itoa(r.Completed),
				strconv.Itoa(r.Failed), strconv.Itoa(r.Cancelled), r.Acceptance, r.P50, r.P90, strconv.Itoa(r.Responses), r.Outcomes})
		}
	}
	add("partner", d.PerPartner)
	add("service", d.PerService)
	return rows
}
