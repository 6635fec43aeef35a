package edge

import (
	"strconv"
	"strings"
)

// CSVCell keeps a spreadsheet from reading a cell of a CSV export as a
// formula (CSV injection): a cell that begins with =, +, -, @, a tab or a
// carriage return gets a leading apostrophe, unless it is a number. The
// API's exports and the dashboard's both write their cells through it.
func CSVCell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return "'" + s
}
