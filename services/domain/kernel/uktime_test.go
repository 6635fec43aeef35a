package kernel_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pathway-sp/pathway/services/domain/kernel"
)

func TestMonth(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 3, 31, 22, 59, 0, 0, time.UTC), "2026-03"}, // 23:59 BST
		{time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC), "2026-04"}, // 00:30 BST on 1 April
		{time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC), "2026-01"}, // GMT: UTC is UK time
		{time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), "2026-02"},
		{time.Date(2026, 10, 31, 23, 30, 0, 0, time.UTC), "2026-10"}, // back on GMT since the 25th
		{time.Date(2026, 9, 30, 23, 0, 0, 0, time.UTC), "2026-10"},   // midnight BST
	} {
		if got := kernel.Month(tc.at); got != tc.want {
			t.Errorf("Month(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
}

func TestParseMonth(t *testing.T) {
	from, to, err := kernel.ParseMonth("2026-04")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC); !from.Equal(want) {
		t.Errorf("April 2026 starts %s, want %s (midnight BST)", from.UTC(), want)
	}
	if want := time.Date(2026, 4, 30, 23, 0, 0, 0, time.UTC); !to.Equal(want) {
		t.Errorf("April 2026 ends %s, want %s", to.UTC(), want)
	}
	from, to, _ = kernel.ParseMonth("2026-12")
	if want := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC); !to.Equal(want) || from.Month() != time.December {
		t.Errorf("December 2026 is %s to %s", from, to)
	}
	for _, bad := range []string{"", "2026", "2026-13", "2026-00", "2026-4", "26-04", "2026-04-01", "April", "2026-04 "} {
		if _, _, err := kernel.ParseMonth(bad); err == nil {
			t.Errorf("ParseMonth(%q): no error", bad)
		}
	}
}

func TestParseDay(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"2026-06-01", "2026-05-31T23:00:00Z"}, // BST: midnight is 23:00 UTC the day before
		{"2026-12-01", "2026-12-01T00:00:00Z"}, // GMT
	} {
		got, err := kernel.ParseDay(c.in)
		if err != nil || got.UTC().Format(time.RFC3339) != c.want {
			t.Errorf("ParseDay(%q) = %s, %v; want %s", c.in, got.UTC().Format(time.RFC3339), err, c.want)
		}
	}
	for _, bad := range []string{"", "2026-6-1", "2026-02-30", "01/06/2026", "2026-06-01T00:00"} {
		if _, err := kernel.ParseDay(bad); err == nil || strings.Contains(err.Error(), bad) && bad != "" {
			t.Errorf("ParseDay(%q): %v, want an error that does not repeat the input", bad, err)
		}
	}
}
