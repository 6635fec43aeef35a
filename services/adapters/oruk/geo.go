package oruk

import (
	"math"
	"strings"

	"github.com/pathway-sp/pathway/projections/partners"
)

// point is a WGS84 latitude and longitude.
type point struct{ lat, lon float64 }

// metersTo is the great-circle distance to q (haversine, mean Earth
// radius), accurate to well under a percent at the scale of a town.
func (p point) metersTo(q point) float64 {
	const r = 6_371_008.8
	rad := math.Pi / 180
	dLat, dLon := (q.lat-p.lat)*rad, (q.lon-p.lon)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(p.lat*rad)*math.Cos(q.lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// centroid is where proximity is measured from for postcode: pathway has
// no postcode directory, so it is the mean of the directory's own
// locations with that postcode, else of those in its postcode district;
// nil when the directory has no located place in either. postcode is ""
// when only a district was given.
func centroid(p *partners.Partners, postcode, district string) *point {
	var full, near []point
	for _, s := range p.Services {
		for _, l := range s.Locations {
			if l.Latitude == 0 && l.Longitude == 0 {
				continue
			}
			pt := point{l.Latitude, l.Longitude}
			if postcode != "" && l.Postcode == postcode {
				full = append(full, pt)
			}
			if d, _, _ := strings.Cut(l.Postcode, " "); d == district {
				near = append(near, pt)
			}
		}
	}
	for _, pts := range [][]point{full, near} {
		if len(pts) > 0 {
			var c point
			for _, q := range pts {
				c.lat += q.lat / float64(len(pts))
				c.lon += q.lon / float64(len(pts))
			}
			return &c
		}
	}
	return nil
}
