package partner

import (
	"slices"
	"strings"

	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// needWords maps words in taxonomy terms and service names to needs. A
// word ending in * matches any word it starts ("lonel*" finds "lonely" and
// "loneliness"); any other matches whole words only ("art" finds "art",
// not "heart" or "artificial"; "pain" not "painting").
var needWords = []struct {
	words []string
	need  pathwayv1.Need
}{
	{[]string{"lonel*", "isolat*", "befriend*", "social group*", "companion*", "friendship*", "lunch club*", "social activit*", "social prescrib*", "coffee morning*"}, pathwayv1.Need_NEED_LONELINESS},
	{[]string{"mental*", "wellbeing", "well-being", "anxiety", "anxious", "depress*", "peer support", "talking therap*", "counselling", "stress"}, pathwayv1.Need_NEED_MENTAL_HEALTH},
	{[]string{"long-term condition*", "long term condition*", "diabet*", "copd", "arthritis", "pain", "chronic pain", "self-management", "self management", "stroke", "cardiac", "heart health"}, pathwayv1.Need_NEED_LONG_TERM_CONDITION},
	{[]string{"walk*", "exercise*", "physical activit*", "sport*", "fitness", "swim*", "danc*", "yoga", "cycling", "bowls"}, pathwayv1.Need_NEED_PHYSICAL_ACTIVITY},
	{[]string{"housing", "homeless*", "tenan*"}, pathwayv1.Need_NEED_HOUSING},
	{[]string{"debt*", "money", "financ*", "budget*"}, pathwayv1.Need_NEED_DEBT},
	{[]string{"benefit*", "welfare", "citizens advice"}, pathwayv1.Need_NEED_BENEFITS},
	{[]string{"employ*", "job*", "work skills", "volunteer*", "careers"}, pathwayv1.Need_NEED_EMPLOYMENT},
	{[]string{"carer*", "caring"}, pathwayv1.Need_NEED_CARING},
	{[]string{"bereave*", "grief", "grieving"}, pathwayv1.Need_NEED_BEREAVEMENT},
	{[]string{"food*", "meal*", "pantry", "pantries", "cooking"}, pathwayv1.Need_NEED_FOOD},
	{[]string{"alcohol*", "drug*", "substance*", "addiction*", "gambling"}, pathwayv1.Need_NEED_SUBSTANCE_USE},
	{[]string{"digital*", "computer*", "online", "internet"}, pathwayv1.Need_NEED_DIGITAL_INCLUSION},
	{[]string{"legal", "law centre", "solicitor*"}, pathwayv1.Need_NEED_LEGAL_ADVICE},
	{[]string{"art", "arts", "artist*", "craft*", "music*", "choir*", "singing", "creative*", "culture*", "cultural", "heritage", "museum*", "painting"}, pathwayv1.Need_NEED_ARTS_AND_CULTURE},
	{[]string{"garden*", "allotment*", "nature", "green space*", "outdoor*", "conservation"}, pathwayv1.Need_NEED_NATURE_AND_GARDENING},
	{[]string{"parent*", "famil*", "child*"}, pathwayv1.Need_NEED_PARENTING},
}

// NeedsFor maps free-text taxonomy terms to needs by the words they use
// (see needWords); NEED_OTHER when none matches.
func NeedsFor(terms []string) []pathwayv1.Need {
	var out []pathwayv1.Need
	for _, t := range terms {
		t = " " + strings.Join(strings.Fields(strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
				return r
			}
			return ' '
		}, strings.ToLower(t))), " ") + " "
		for _, nw := range needWords {
			for _, w := range nw.words {
				if matchesWord(t, w) && !slices.Contains(out, nw.need) {
					out = append(out, nw.need)
				}
			}
		}
	}
	if len(out) == 0 {
		return []pathwayv1.Need{pathwayv1.Need_NEED_OTHER}
	}
	slices.Sort(out)
	return out
}

// matchesWord reports whether the padded text t (" word word ") holds the
// keyword w: a whole word or phrase, or with a trailing * any word that
// starts with it.
func matchesWord(t, w string) bool {
	if stem, ok := strings.CutSuffix(w, "*"); ok {
		return strings.Contains(t, " "+stem)
	}
	return strings.Contains(t, " "+w+" ")
}
