package kernel

import (
	"fmt"
	"time"

	// The zone database is embedded, so UK time works on a machine
	// without zoneinfo (a scratch container).
	_ "time/tzdata"
)

// ukTime is Europe/London, loaded once from the embedded zone database.
var ukTime = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("kernel: Europe/London is not in the embedded zone database: " + err.Error())
	}
	return loc
}()

// UKTime returns the Europe/London location (GMT in winter, BST in
// summer), in which pathway's days and months run. It is safe for
// concurrent use.
func UKTime() *time.Location { return ukTime }

// Month returns the UK calendar month of t as "YYYY-MM": 23:30 UTC on 31
// March, in British Summer Time, is in April. It is safe for concurrent
// use.
func Month(t time.Time) string { return t.In(ukTime).Format("2006-01") }

// ParseMonth reads a UK calendar month "YYYY-MM" and returns its first
// instant and the first instant of the next month (UK midnights, so a
// month is [from, to)). It returns an error, which never repeats s, when
// s is not a month from 0001-01 to 9999-12.
func ParseMonth(s string) (from, to time.Time, err error) {
	t, err := time.ParseInLocation("2006-01", s, ukTime)
	if err != nil || len(s) != len("2006-01") {
		return time.Time{}, time.Time{}, fmt.Errorf("must be a month as YYYY-MM, e.g. 2026-11")
	}
	return t, t.AddDate(0, 1, 0), nil
}

// DayLayout is the layout of a date as people enter it: YYYY-MM-DD.
const DayLayout = "2006-01-02"

// ParseDay reads a UK calendar date "YYYY-MM-DD" and returns its first
// instant, UK midnight (BST or GMT as the date falls). It returns an
// error, which never repeats s, when s is not such a date.
func ParseDay(s string) (time.Time, error) {
	t, err := time.ParseInLocation(DayLayout, s, ukTime)
	if err != nil || len(s) != len(DayLayout) {
		return time.Time{}, fmt.Errorf("must be a date as YYYY-MM-DD, e.g. 2026-11-29")
	}
	return t, nil
}
