package status

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Deadline is finance's rule "day D (in Location) is complete by Hour:Minute
// on day D+1".
type Deadline struct {
	Hour, Minute int
	Location     *time.Location
}

// ParseDeadline reads "HH:MM Zone", e.g. "06:00 Europe/Berlin" or
// "06:00 UTC"; the zone defaults to UTC.
func ParseDeadline(s string) (Deadline, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return Deadline{}, fmt.Errorf("parsing deadline %q: want \"HH:MM Zone\", e.g. \"06:00 Europe/Berlin\"", s)
	}
	hm := strings.SplitN(f[0], ":", 2)
	if len(hm) != 2 {
		return Deadline{}, fmt.Errorf("parsing deadline %q: want HH:MM", s)
	}
	h, err1 := strconv.Atoi(hm[0])
	m, err2 := strconv.Atoi(hm[1])
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return Deadline{}, fmt.Errorf("parsing deadline %q: %q is not a time of day", s, f[0])
	}
	loc := time.UTC
	if len(f) == 2 {
		l, err := time.LoadLocation(f[1])
		if err != nil {
			return Deadline{}, fmt.Errorf("parsing deadline %q: %w", s, err)
		}
		loc = l
	}
	return Deadline{Hour: h, Minute: m, Location: loc}, nil
}

// String is the deadline as ParseDeadline reads it.
func (d Deadline) String() string {
	return fmt.Sprintf("%02d:%02d %s", d.Hour, d.Minute, d.loc())
}

func (d Deadline) loc() *time.Location {
	if d.Location == nil {
		return time.UTC
	}
	return d.Location
}

// Day is a calendar day in the deadline's zone: [Start, End).
type Day struct {
	Date       string    `json:"date"` // YYYY-MM-DD
	Start, End time.Time `json:"-"`
	Due        time.Time `json:"due"` // the deadline of the day
}

// DayOf returns the day holding t.
func (d Deadline) DayOf(t time.Time) Day {
	l := t.In(d.loc())
	start := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, d.loc())
	end := start.AddDate(0, 0, 1)
	due := time.Date(end.Year(), end.Month(), end.Day(), d.Hour, d.Minute, 0, 0, d.loc())
	return Day{Date: start.Format(time.DateOnly), Start: start.UTC(), End: end.UTC(), Due: due.UTC()}
}

// LastClosed returns the newest day that has ended at now.
func (d Deadline) LastClosed(now time.Time) Day {
	today := d.DayOf(now)
	return d.DayOf(today.Start.Add(-time.Nanosecond))
}

// LastDue returns the newest day whose deadline has passed at now.
func (d Deadline) LastDue(now time.Time) Day {
	day := d.LastClosed(now)
	for day.Due.After(now) {
		day = d.DayOf(day.Start.Add(-time.Nanosecond))
	}
	return day
}
