package httpapi

import "testing"

// TestCSVCells: nested fields get dotted names, lists of words are
// joined, and a cell a spreadsheet would run as a formula is defused.
func TestCSVCells(t *testing.T) {
	got, err := toCSV([]byte(`{"as_of":"2026-11-29","total":2,"items":[{"id":"a","name":"=HYPERLINK(\"x\")","needs":["debt","housing"],"wait":{"days":3}},{"id":"b","delta":-2,"name":"@sum"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "as_of,id,name,needs,wait.days,delta\n" +
		"2026-11-29,a,\"'=HYPERLINK(\"\"x\"\")\",debt; housing,3,\n" +
		"2026-11-29,b,'@sum,,,-2\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
