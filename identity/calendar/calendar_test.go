package calendar_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/portero-id/portero/identity/calendar"
)

// day is 00:00 Colombia time of a calendar date.
func day(y int, m time.Month, d int) time.Time { return calendar.Date(y, m, d) }

// sameDay reports whether a and b fall on the same Colombian calendar date.
func sameDay(a, b time.Time) bool {
	ay, am, ad := a.In(calendar.Location()).Date()
	by, bm, bd := b.In(calendar.Location()).Date()
	return ay == by && am == bm && ad == bd
}

func ymd(t time.Time) string { return t.In(calendar.Location()).Format("2006-01-02 Mon") }

func TestEasterKnownDates(t *testing.T) {
	for _, want := range []string{
		"2024-03-31", "2025-04-20", "2026-04-05", "2027-03-28", "2000-04-23",
		"2038-04-25", "1818-03-22", "2285-03-22", "1583-04-10", "1954-04-18",
		"1981-04-19", "2008-03-23", "2011-04-24", "2019-04-21", "2049-04-18",
		"2076-04-19", "2100-03-28",
	} {
		w, err := time.ParseInLocation("2006-01-02", want, calendar.Location())
		if err != nil {
			t.Fatal(err)
		}
		if got := calendar.Easter(w.Year()); !got.Equal(w) {
			t.Errorf("Easter(%d) = %s, want %s", w.Year(), got, w)
		}
	}
}

// gaussEaster is Gauss's Easter algorithm with its two exceptions: an
// independent computation to cross-check the Meeus/Jones/Butcher one.
func gaussEaster(y int) (time.Month, int) {
	a, b, c := y%19, y%4, y%7
	k := y / 100
	p := (13 + 8*k) / 25
	q := k / 4
	m := (15 - p + k - q) % 30
	n := (4 + k - q) % 7
	d := (19*a + m) % 30
	e := (2*b + 4*c + 6*d + n) % 7
	if d == 29 && e == 6 {
		return time.April, 19
	}
	if d == 28 && e == 6 && (11*m+11)%30 < 19 {
		return time.April, 18
	}
	if 22+d+e <= 31 {
		return time.March, 22 + d + e
	}
	return time.April, d + e - 9
}

func TestEasterCrossCheck(t *testing.T) {
	for y := 1583; y <= 4099; y++ {
		got := calendar.Easter(y)
		m, d := gaussEaster(y)
		if got.Year() != y || got.Month() != m || got.Day() != d {
			t.Fatalf("Easter(%d) = %s, Gauss says %s %d", y, ymd(got), m, d)
		}
		if got.Weekday() != time.Sunday {
			t.Fatalf("Easter(%d) = %s is not a Sunday", y, ymd(got))
		}
		if got.Before(day(y, time.March, 22)) || got.After(day(y, time.April, 25)) {
			t.Fatalf("Easter(%d) = %s out of 22 March–25 April", y, ymd(got))
		}
	}
}

func dates(t *testing.T, year int, md ...int) []time.Time {
	t.Helper()
	var out []time.Time
	for i := 0; i < len(md); i += 2 {
		out = append(out, day(year, time.Month(md[i]), md[i+1]))
	}
	return out
}

func checkHolidays(t *testing.T, c *calendar.Calendar, year int, want []time.Time) {
	t.Helper()
	got := c.Holidays(year)
	var g []string
	for _, h := range got {
		g = append(g, ymd(h.Date))
	}
	var w []string
	for _, d := range want {
		w = append(w, ymd(d))
	}
	if strings.Join(g, ",") != strings.Join(w, ",") {
		t.Errorf("Holidays(%d):\n got %v\nwant %v", year, g, w)
	}
}

// The official lists (HABEAS_DATA.md and the government's published
// calendars for 2025 and 2026).
func TestHolidays2025(t *testing.T) {
	checkHolidays(t, nil, 2025, dates(t, 2025,
		1, 1, 1, 6, 3, 24, 4, 17, 4, 18, 5, 1, 6, 2, 6, 23, 6, 30, 7, 20,
		8, 7, 8, 18, 10, 13, 11, 3, 11, 17, 12, 8, 12, 25))
	// In 2025 San Pedro y San Pablo (29 June, a Sunday) and Sagrado
	// Corazón (Easter + 71) both fall on Monday 30 June: one day, two names.
	for _, h := range calendar.New(nil).Holidays(2025) {
		if sameDay(h.Date, day(2025, time.June, 30)) {
			if h.Name != "San Pedro y San Pablo / Sagrado Corazón de Jesús" {
				t.Errorf("30 June 2025 name = %q", h.Name)
			}
		}
	}
}

func TestHolidays2026(t *testing.T) {
	want := dates(t, 2026,
		1, 1, 1, 12, 3, 23, 4, 2, 4, 3, 5, 1, 5, 18, 6, 8, 6, 15, 6, 29,
		7, 20, 8, 7, 8, 17, 10, 12, 11, 2, 11, 16, 12, 8, 12, 25)
	checkHolidays(t, calendar.New(nil), 2026, want)

	names := map[string]string{
		"2026-01-01": "Año Nuevo",
		"2026-01-12": "Día de los Reyes Magos",
		"2026-03-23": "Día de San José",
		"2026-04-02": "Jueves Santo",
		"2026-04-03": "Viernes Santo",
		"2026-05-18": "Ascensión del Señor",
		"2026-06-08": "Corpus Christi",
		"2026-06-15": "Sagrado Corazón de Jesús",
		"2026-11-16": "Independencia de Cartagena",
	}
	for _, h := range calendar.New(nil).Holidays(2026) {
		if h.Date.Location() != calendar.Location() || h.Date.Hour() != 0 {
			t.Errorf("%s: Date = %s, want 00:00 in Colombia time", h.Name, h.Date)
		}
		if want, ok := names[h.Date.Format("2006-01-02")]; ok && h.Name != want {
			t.Errorf("%s: name %q, want %q", ymd(h.Date), h.Name, want)
		}
	}
}

// The rules hold in every year: 18 holidays, the movable ones on a Monday,
// Holy Thursday and Good Friday on their weekday, the list sorted.
func TestHolidaysRulesEveryYear(t *testing.T) {
	moved := map[string]bool{
		"Día de los Reyes Magos": true, "Día de San José": true,
		"San Pedro y San Pablo": true, "Asunción de la Virgen": true,
		"Día de la Raza": true, "Todos los Santos": true,
		"Independencia de Cartagena": true, "Ascensión del Señor": true,
		"Corpus Christi": true, "Sagrado Corazón de Jesús": true,
	}
	var c calendar.Calendar // the zero Calendar works
	for y := 1984; y <= 2200; y++ {
		hs := c.Holidays(y)
		n := 0
		for i, h := range hs {
			if h.Date.Year() != y {
				t.Fatalf("%d: %s %s in another year", y, ymd(h.Date), h.Name)
			}
			if i > 0 && !hs[i-1].Date.Before(h.Date) {
				t.Fatalf("%d: not sorted or duplicate day at %s", y, ymd(h.Date))
			}
			for _, name := range strings.Split(h.Name, " / ") {
				n++
				switch wd := h.Date.Weekday(); {
				case moved[name] && wd != time.Monday,
					name == "Jueves Santo" && wd != time.Thursday,
					name == "Viernes Santo" && wd != time.Friday:
					t.Fatalf("%d: %s on %s", y, name, ymd(h.Date))
				}
			}
		}
		if n != 18 {
			t.Fatalf("%d: %d holidays, want 18", y, n)
		}
	}
}

func TestReclamoVector(t *testing.T) {
	c := calendar.New(nil)
	received := time.Date(2026, time.March, 16, 10, 0, 0, 0, calendar.Location())
	due := c.ReclamoDue(received)
	if want := "2026-04-09T23:59:59.999999-05:00"; due.Format(time.RFC3339Nano) != want {
		t.Errorf("ReclamoDue = %s, want %s", due.Format(time.RFC3339Nano), want)
	}
	if got := c.ReclamoExtended(received); !sameDay(got, day(2026, time.April, 21)) {
		t.Errorf("ReclamoExtended = %s, want 2026-04-21", ymd(got))
	}
	// Any hour of the day of receipt gives the same date.
	for _, h := range []int{0, 8, 23} {
		r := time.Date(2026, time.March, 16, h, 59, 59, 0, calendar.Location())
		if got := c.ReclamoDue(r); !got.Equal(due) {
			t.Errorf("received %s: due %s", r, got)
		}
	}
}

func TestConsulta(t *testing.T) {
	c := calendar.New(nil)
	for _, tc := range []struct {
		name               string
		received           time.Time
		due, extended      time.Time
		incomplete, legend time.Time // reclamo timers, same receipt
	}{
		{
			name:     "business day: the day of receipt is day 1",
			received: time.Date(2026, time.February, 2, 17, 0, 0, 0, calendar.Location()),
			due:      day(2026, time.February, 13), extended: day(2026, time.February, 20),
		},
		{
			name:     "Saturday: day 1 is Monday",
			received: time.Date(2026, time.February, 7, 9, 0, 0, 0, calendar.Location()),
			due:      day(2026, time.February, 20), extended: day(2026, time.February, 27),
		},
		{
			name:     "holiday (Reyes, Monday 12 January 2026): day 1 is Tuesday",
			received: time.Date(2026, time.January, 12, 9, 0, 0, 0, calendar.Location()),
			due:      day(2026, time.January, 26), extended: day(2026, time.February, 2),
		},
		{
			name: "Holy week 2026",
			// 30 Mar(1) 31(2) 1 Apr(3) [2, 3 holidays] 6(4) … 10(8) 13(9) 14(10)
			received: time.Date(2026, time.March, 30, 9, 0, 0, 0, calendar.Location()),
			due:      day(2026, time.April, 14), extended: day(2026, time.April, 21),
		},
		{
			name: "year boundary: 22 December 2026",
			// 22(1) 23(2) 24(3) [25] 28(4) 29(5) 30(6) 31(7) [1 Jan] 4(8) 5(9) 6(10);
			// Reyes 2027 (a Wednesday) moves to Monday 11 January:
			// 7(1) 8(2) [11] 12(3) 13(4) 14(5).
			received: time.Date(2026, time.December, 22, 15, 0, 0, 0, calendar.Location()),
			due:      day(2027, time.January, 6), extended: day(2027, time.January, 14),
		},
	} {
		if got := c.ConsultaDue(tc.received); !sameDay(got, tc.due) {
			t.Errorf("%s: ConsultaDue = %s, want %s", tc.name, ymd(got), ymd(tc.due))
		}
		if got := c.ConsultaExtended(tc.received); !sameDay(got, tc.extended) {
			t.Errorf("%s: ConsultaExtended = %s, want %s", tc.name, ymd(got), ymd(tc.extended))
		}
	}
}

// A consulta counts the day of receipt, a reclamo starts the next day: on a
// business day the consulta's 10th day comes one business day before the
// 10th business day after receipt.
func TestConsultaCountsReceiptDayReclamoDoesNot(t *testing.T) {
	c := calendar.New(nil)
	r := time.Date(2026, time.March, 16, 9, 0, 0, 0, calendar.Location())
	if got, want := c.ConsultaDue(r), c.AddBusinessDays(r, 9); !got.Equal(want) {
		t.Errorf("ConsultaDue = %s, want 9 business days after receipt %s", ymd(got), ymd(want))
	}
	if got, want := c.ReclamoDue(r), c.AddBusinessDays(r, 15); !got.Equal(want) {
		t.Errorf("ReclamoDue = %s, want %s", ymd(got), ymd(want))
	}
}

func TestTimeZone(t *testing.T) {
	c := calendar.New(nil)
	// Friday 6 February 2026, 23:30 in Bogotá, received as a UTC time
	// (Saturday 04:30 UTC).
	r := time.Date(2026, time.February, 7, 4, 30, 0, 0, time.UTC)
	if !c.IsBusinessDay(r) {
		t.Error("Friday 23:30 Bogotá (Saturday in UTC) is a business day")
	}
	// The Friday is day 1: 6(1) 9–13(6) 16–19(10).
	if got := c.ConsultaDue(r); !sameDay(got, day(2026, time.February, 19)) {
		t.Errorf("ConsultaDue = %s, want Thursday 19 February (reading the date in UTC gives the 20th)", ymd(got))
	}
	// Thursday 23:30 Bogotá = Friday UTC: the reclamo starts on Friday.
	r = time.Date(2026, time.February, 6, 4, 30, 0, 0, time.UTC)
	if got := c.ReclamoDue(r); !sameDay(got, day(2026, time.February, 26)) {
		t.Errorf("ReclamoDue = %s, want Thursday 26 February", ymd(got))
	}
	// Sunday 19:30 Bogotá is Monday 00:30 UTC.
	if c.IsBusinessDay(time.Date(2026, time.February, 9, 0, 30, 0, 0, time.UTC)) {
		t.Error("Sunday evening in Bogotá is not a business day")
	}
	// The same instant in any zone gives the same due date.
	tokyo := time.FixedZone("JST", 9*3600)
	if a, b := c.ReclamoDue(r), c.ReclamoDue(r.In(tokyo)); !a.Equal(b) {
		t.Errorf("due depends on the zone of the input: %s vs %s", a, b)
	}
	due := c.ReclamoDue(r)
	if due.Location() != calendar.Location() {
		t.Errorf("due in %s, want Colombia time", due.Location())
	}
	if due.Round(time.Microsecond) != due {
		t.Error("due is not exact to the microsecond (would change through PostgreSQL)")
	}
}

func TestWeekends(t *testing.T) {
	c := calendar.New(nil)
	for _, tc := range []struct {
		d    time.Time
		want bool
	}{
		{day(2026, time.February, 6), true},  // Friday
		{day(2026, time.February, 7), false}, // Saturday
		{day(2026, time.February, 8), false}, // Sunday
		{day(2026, time.February, 9), true},  // Monday
		{day(2026, time.July, 20), false},    // Monday, Día de la Independencia
		{day(2026, time.July, 21), true},     // Tuesday
	} {
		if got := c.IsBusinessDay(tc.d); got != tc.want {
			t.Errorf("IsBusinessDay(%s) = %v", ymd(tc.d), got)
		}
	}
	fri := time.Date(2026, time.February, 6, 12, 0, 0, 0, calendar.Location())
	for n, want := range map[int]time.Time{
		0:  day(2026, time.February, 6),
		1:  day(2026, time.February, 9),
		5:  day(2026, time.February, 13),
		-1: day(2026, time.February, 5),
	} {
		if got := c.AddBusinessDays(fri, n); !sameDay(got, want) {
			t.Errorf("AddBusinessDays(Fri, %d) = %s, want %s", n, ymd(got), ymd(want))
		}
	}
	sat := day(2026, time.February, 7)
	if got := c.AddBusinessDays(sat, 0); !sameDay(got, day(2026, time.February, 9)) {
		t.Errorf("AddBusinessDays(Sat, 0) = %s, want Monday", ymd(got))
	}
	if got := c.AddBusinessDays(sat, -1); !sameDay(got, day(2026, time.February, 6)) {
		t.Errorf("AddBusinessDays(Sat, -1) = %s, want Friday", ymd(got))
	}
}

func TestExtraHolidays(t *testing.T) {
	received := time.Date(2026, time.March, 16, 10, 0, 0, 0, calendar.Location())
	// A holiday added by law, given as data the way YAML decodes a date
	// (00:00 UTC): it means 7 April, not 6 April in Bogotá.
	c := calendar.New([]calendar.Holiday{
		{Date: time.Date(2026, time.April, 7, 0, 0, 0, 0, time.UTC), Name: "Festivo nuevo"},
		{Date: time.Date(2026, time.July, 20, 0, 0, 0, 0, time.UTC), Name: "Bicentenario"},
		{Date: time.Date(2027, time.March, 1, 0, 0, 0, 0, time.UTC), Name: "Otro año"},
	})
	if c.IsBusinessDay(day(2026, time.April, 7)) {
		t.Error("7 April is an extra holiday")
	}
	if !c.IsBusinessDay(day(2026, time.April, 6)) {
		t.Error("6 April is a business day")
	}
	if got := c.ReclamoDue(received); !sameDay(got, day(2026, time.April, 10)) {
		t.Errorf("ReclamoDue = %s, want 10 April (one day later than without the extra holiday)", ymd(got))
	}
	if got := calendar.New(nil).ReclamoDue(received); !sameDay(got, day(2026, time.April, 9)) {
		t.Errorf("without extras: ReclamoDue = %s, want 9 April", ymd(got))
	}

	want := dates(t, 2026,
		1, 1, 1, 12, 3, 23, 4, 2, 4, 3, 4, 7, 5, 1, 5, 18, 6, 8, 6, 15, 6, 29,
		7, 20, 8, 7, 8, 17, 10, 12, 11, 2, 11, 16, 12, 8, 12, 25)
	checkHolidays(t, c, 2026, want)
	for _, h := range c.Holidays(2026) {
		switch ymd(h.Date)[:10] {
		case "2026-04-07":
			if h.Name != "Festivo nuevo" {
				t.Errorf("7 April name %q", h.Name)
			}
		case "2026-07-20":
			if h.Name != "Día de la Independencia / Bicentenario" {
				t.Errorf("20 July name %q", h.Name)
			}
		}
	}
	if n := len(c.Holidays(2027)); n != 19 { // 18 statutory days in 2027, plus 1 March
		t.Errorf("2027: %d holidays, want 19", n)
	}
}

func TestOtherTimers(t *testing.T) {
	c := calendar.New(nil)
	at := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 14, 0, 0, 0, calendar.Location())
	}
	for _, tc := range []struct {
		name      string
		got, want time.Time
	}{
		// Art. 15: ask for missing information within 5 business days.
		{"incomplete, Mon 16 Mar 2026", c.IncompleteReclamoRequestDue(at(2026, 3, 16)), day(2026, 3, 24)},
		// Art. 15: legend within 2 business days.
		{"legend, Mon 16 Mar 2026", c.LegendDue(at(2026, 3, 16)), day(2026, 3, 18)},
		{"legend, Fri 20 Mar 2026 (Monday 23 is San José)", c.LegendDue(at(2026, 3, 20)), day(2026, 3, 25)},
		{"legend, Wed 1 Apr 2026 (Holy week)", c.LegendDue(at(2026, 4, 1)), day(2026, 4, 7)},
		// SIC: incidents within 15 business days of detection.
		{"incident, Mon 16 Mar 2026", c.IncidentReportDue(at(2026, 3, 16)), day(2026, 4, 9)},
		{"incident, Sat 19 Dec 2026", c.IncidentReportDue(at(2026, 12, 19)), day(2027, 1, 13)},
		// Art. 15: two calendar months after the request for information.
		{"withdrawal, Tue 10 Feb 2026 → Fri 10 Apr", c.WithdrawalDate(at(2026, 2, 10)), day(2026, 4, 10)},
		{"withdrawal, 15 Jan 2026 → 15 Mar is a Sunday", c.WithdrawalDate(at(2026, 1, 15)), day(2026, 3, 16)},
		{"withdrawal, 17 Mar 2026 → 17 May Sunday, 18 May Ascension", c.WithdrawalDate(at(2026, 3, 17)), day(2026, 5, 19)},
		{"withdrawal, 31 Dec 2025 → 28 Feb 2026 Saturday", c.WithdrawalDate(at(2025, 12, 31)), day(2026, 3, 2)},
		{"withdrawal, 31 Dec 2027 → 29 Feb 2028 (leap year)", c.WithdrawalDate(at(2027, 12, 31)), day(2028, 2, 29)},
		{"withdrawal, 30 Apr 2026 → 30 Jun", c.WithdrawalDate(at(2026, 4, 30)), day(2026, 6, 30)},
		{"withdrawal, 3 Nov 2026 → 3 Jan 2027 Sunday", c.WithdrawalDate(at(2026, 11, 3)), day(2027, 1, 4)},
	} {
		if !sameDay(tc.got, tc.want) {
			t.Errorf("%s: got %s, want %s", tc.name, ymd(tc.got), ymd(tc.want))
		}
		if h, m, s := tc.got.Clock(); h != 23 || m != 59 || s != 59 || tc.got.Location() != calendar.Location() {
			t.Errorf("%s: %s is not the end of the day in Colombia", tc.name, tc.got)
		}
	}
}

func TestOverdue(t *testing.T) {
	c := calendar.New(nil)
	due := c.ReclamoDue(time.Date(2026, time.March, 16, 10, 0, 0, 0, calendar.Location()))
	lastNano := time.Date(2026, time.April, 9, 23, 59, 59, 999999999, calendar.Location())
	nextDay := time.Date(2026, time.April, 10, 0, 0, 0, 0, calendar.Location())
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2026, time.April, 9, 8, 0, 0, 0, calendar.Location()), false},
		{due, false},
		{lastNano, false},
		{nextDay, true},
		{time.Date(2026, time.April, 10, 4, 59, 0, 0, time.UTC), false}, // 23:59 Bogotá
		{time.Date(2026, time.April, 10, 5, 0, 0, 0, time.UTC), true},   // 00:00 Bogotá
	} {
		// Stored with full, second or millisecond precision, or as the
		// date at 00:00: the answer is the same.
		for _, d := range []time.Time{due, due.Truncate(time.Second), due.Truncate(time.Millisecond), day(2026, time.April, 9), due.UTC()} {
			if got := calendar.Overdue(d, tc.now); got != tc.want {
				t.Errorf("Overdue(%s, %s) = %v", d, tc.now, got)
			}
		}
	}
	// now.After(due) agrees to the microsecond.
	if due.After(due) || !due.Add(time.Microsecond).After(due) || !nextDay.After(due) {
		t.Error("now.After(due) does not mark the end of the day")
	}
}

// Property: for any start and n, AddBusinessDays lands on a business day,
// later as n grows (strictly from n = 1 on), with exactly n business days in between, and
// composes: adding a then b is adding a+b.
func TestAddBusinessDaysProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1581, 2012))
	cals := map[string]*calendar.Calendar{
		"statutory": calendar.New(nil),
		"extras": calendar.New([]calendar.Holiday{
			{Date: day(2026, time.April, 7), Name: "a"},
			{Date: day(2026, time.April, 8), Name: "b"},
			{Date: day(2027, time.December, 24), Name: "c"},
		}),
	}
	base := time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	for name, c := range cals {
		for i := 0; i < 300; i++ {
			start := base.Add(time.Duration(rng.Int64N(int64(5 * 365 * 24 * time.Hour))))
			prev := c.AddBusinessDays(start, 0)
			if !c.IsBusinessDay(prev) || prev.Before(day(start.In(calendar.Location()).Date())) {
				t.Fatalf("%s: AddBusinessDays(%s, 0) = %s", name, start, ymd(prev))
			}
			for n := 1; n <= 40; n++ {
				got := c.AddBusinessDays(start, n)
				if !c.IsBusinessDay(got) {
					t.Fatalf("%s: AddBusinessDays(%s, %d) = %s, not a business day", name, start, n, ymd(got))
				}
				// n = 0 means "on or after start's day", so it equals n = 1
				// when start's day is not a business day.
				if n == 1 && !c.IsBusinessDay(start) {
					if !got.Equal(prev) {
						t.Fatalf("%s: AddBusinessDays(%s, 1) = %s, want %s as for n = 0", name, start, ymd(got), ymd(prev))
					}
				} else if !got.After(prev) || !got.After(start) {
					t.Fatalf("%s: AddBusinessDays(%s, %d) = %s, not after %s", name, start, n, ymd(got), ymd(prev))
				}
				// Exactly n business days in (start's day, got's day].
				count := 0
				for d := c.AddBusinessDays(start, 1); !d.After(got); d = c.AddBusinessDays(d, 1) {
					count++
				}
				if count != n {
					t.Fatalf("%s: %d business days between %s and %s, want %d", name, count, ymd(start), ymd(got), n)
				}
				if a := rng.IntN(n) + 1; !c.AddBusinessDays(c.AddBusinessDays(start, a), n-a).Equal(got) {
					t.Fatalf("%s: adding %d then %d differs from adding %d", name, a, n-a, n)
				}
				// Going back n business days returns to start's day, or to
				// the business day before it if start's day is not one.
				wantBack := c.AddBusinessDays(start, 0)
				if !c.IsBusinessDay(start) {
					wantBack = c.AddBusinessDays(start, -1)
				}
				if back := c.AddBusinessDays(got, -n); !back.Equal(wantBack) {
					t.Fatalf("%s: %s − %d = %s, want %s", name, ymd(got), n, ymd(back), ymd(wantBack))
				}
				prev = got
			}
		}
	}
}
