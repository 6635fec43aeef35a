package partner_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pathway-sp/pathway/services/domain/partner"
)

// bigPage is an Open Referral UK page of n copies of the specification's
// full service, each with its own id and organization.
func bigPage(tb testing.TB, n int) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/hsds3/service_full.json")
	if err != nil {
		tb.Fatal(err)
	}
	one := string(data)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strings.Replace(strings.Replace(one, `"ac148810-d857-441c-9679-408f346de14b"`, fmt.Sprintf(`"svc-%d"`, i), 1),
			`"d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"`, fmt.Sprintf(`"org-%d"`, i%200), 1)
	}
	return []byte(`{"total_items": ` + fmt.Sprint(n) + `, "contents": [` + strings.Join(parts, ",") + `]}`)
}

// bigTabular is the tabular example with n services, each with its own
// rows in every table that names a service.
func bigTabular(tb testing.TB, n int) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/hsds3/tabular.json")
	if err != nil {
		tb.Fatal(err)
	}
	var tables map[string][]map[string]any
	if err := json.Unmarshal(data, &tables); err != nil {
		tb.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for name, rows := range tables {
		for i := range n {
			for _, r := range rows {
				c := map[string]any{}
				for k, v := range r {
					if s, ok := v.(string); ok && (k == "id" || strings.HasSuffix(k, "_id")) {
						v = fmt.Sprintf("%s-%d", s, i)
					}
					c[k] = v
				}
				out[name] = append(out[name], c)
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkParseHSDS maps a page of 1,000 full services, and the tabular
// form of 1,000 services (see docs/PERFORMANCE.md).
func BenchmarkParseHSDS(b *testing.B) {
	for _, c := range []struct {
		name string
		data []byte
	}{{"page-1000-full-services", bigPage(b, 1000)}, {"tabular-1000-services", bigTabular(b, 1000)}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				recs, err := partner.ParseHSDS(c.data)
				if err != nil || len(recs) != 1000 || recs[999].Skip != "" {
					b.Fatalf("got %d records, %v", len(recs), err)
				}
			}
		})
	}
}
