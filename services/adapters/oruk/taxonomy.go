package oruk

import (
	"strings"

	"github.com/google/uuid"
	pathwayv1 "github.com/pathway-sp/pathway/proto/pathway/v1"
)

// pathway publishes two taxonomies: its own needs (the words a referral
// and a directory search use, e.g. loneliness), and the terms the source
// directories gave their services, kept verbatim.
var (
	// NeedsTaxonomy is the taxonomy of pathway's needs.
	NeedsTaxonomy = Taxonomy{ID: uuid.NewSHA1(idNamespace, []byte("taxonomy/pathway-needs")).String(), Name: "pathway needs",
		Description: "The needs social prescribing referrals are made for, as pathway's referrals and directory search name them; each service is mapped to them from its own taxonomy terms and name.",
		Version:     "1"}
	// SourceTaxonomy holds the taxonomy terms of the directories services
	// were imported from, by their names as given.
	SourceTaxonomy = Taxonomy{ID: uuid.NewSHA1(idNamespace, []byte("taxonomy/source-terms")).String(), Name: "source directory terms",
		Description: "The taxonomy terms the directories pathway imports from gave their services, kept as they were given (by name)."}
)

// needTerm is the taxonomy term of need n.
func needTerm(n pathwayv1.Need) TaxonomyTerm {
	code := strings.ToLower(strings.TrimPrefix(n.String(), "NEED_"))
	name := strings.ReplaceAll(code, "_", " ")
	name = strings.ToUpper(name[:1]) + name[1:]
	return TaxonomyTerm{ID: uuid.NewSHA1(idNamespace, []byte("need/"+code)).String(), Code: code, Name: name,
		Description: name + " (a pathway need)", TaxonomyID: NeedsTaxonomy.ID, Taxonomy: NeedsTaxonomy.Name}
}

// sourceTerm is the taxonomy term of a source directory's term label.
func sourceTerm(label string) TaxonomyTerm {
	return TaxonomyTerm{ID: uuid.NewSHA1(idNamespace, []byte("term/"+strings.ToLower(label))).String(), Name: label,
		Description: label + " (as the source directory names it)", TaxonomyID: SourceTaxonomy.ID, Taxonomy: SourceTaxonomy.Name}
}

// needTerms lists every need's term but NEED_UNSPECIFIED.
func needTerms() []TaxonomyTerm {
	var out []TaxonomyTerm
	for v := range len(pathwayv1.Need_name) {
		n := pathwayv1.Need(v)
		if n == pathwayv1.Need_NEED_UNSPECIFIED {
			continue
		}
		if _, ok := pathwayv1.Need_name[int32(n)]; ok {
			out = append(out, needTerm(n))
		}
	}
	return out
}

// needTermByCode is the term of the need with wire name code.
func needTermByCode(code string) TaxonomyTerm {
	if v, ok := pathwayv1.Need_value["NEED_"+strings.ToUpper(code)]; ok {
		return needTerm(pathwayv1.Need(v))
	}
	return needTerm(pathwayv1.Need_NEED_OTHER)
}
