package partner

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// ParseHSDSTables reads the CSV form of Open Referral UK / HSDS 3.0 (the
// standard's data package: one CSV file a table, organizations.csv,
// services.csv, locations.csv, phones.csv and so on, each with a header
// row), keyed by file name. The tables are joined as the tabular form is
// (see ParseHSDS); a file that is not CSV is reported with the first
// record and left out. Record paths name the file and row:
// $["services.csv"][0] is its first row after the header. The error, an
// ErrInvalid, is only for no tables at all or more than MaxImportRecords
// records.
func ParseHSDSTables(files map[string][]byte) ([]Record, error) {
	if len(files) == 0 {
		return nil, ErrInvalid.Errorf("no CSV tables: want the files of an Open Referral UK data package (organizations.csv, services.csv, ...)")
	}
	top := map[string]json.RawMessage{}
	var probs []Problem
	for _, name := range slices.Sorted(maps.Keys(files)) {
		rows, err := readTable(files[name])
		if err != nil {
			probs = append(probs, Problem{fmt.Sprintf("$[%q]", name), err.Error() + " (left out)"})
			continue
		}
		raw, err := json.Marshal(rows)
		if err != nil {
			continue
		}
		top[name] = raw
	}
	return parseTables(top, probs, "$")
}

// readTable reads one CSV table into rows keyed by its header; empty
// cells are left out, as absent fields are in JSON.
func readTable(data []byte) ([]map[string]string, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.FieldsPerRecord = 0
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("an empty file: want a header row")
	}
	if err != nil {
		return nil, csvReason(err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	var rows []map[string]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, csvReason(err)
		}
		row := map[string]string{}
		for i, v := range rec {
			if v = strings.TrimSpace(v); v != "" && header[i] != "" {
				row[header[i]] = v
			}
		}
		rows = append(rows, row)
	}
}

// csvReason says where a CSV file is malformed.
func csvReason(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("not CSV: %v on line %d", pe.Err, pe.Line)
	}
	return errors.New("not CSV")
}
