package dashboard

import (
	"testing"
	"time"
)

// TestAbout: estimated waits are said as people say them.
func TestAbout(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{3 * time.Hour, "less than a day"},
		{20 * time.Hour, "about a day"},
		{3*day + 5*time.Hour, "about 3 days"},
		{13 * day, "about 13 days"},
		{15 * day, "about 2 weeks"},
		{56 * day, "about 8 weeks"},
		{248*day + 21*time.Hour, "about 8 months"},
		{800 * day, "about 2 years"},
	} {
		if got := about(c.d); got != c.want {
			t.Errorf("about(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
