package calendar

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// cot is Colombia time, UTC−5 with no daylight saving (see the package
// comment for why it is a fixed zone).
var cot = time.FixedZone("COT", -5*3600)

// Location returns the time zone in which the package reads dates:
// Colombia time, a fixed UTC−5.
func Location() *time.Location { return cot }

// Date returns 00:00 Colombia time of the given calendar date. Use it to
// pass a calendar date to functions that take an instant.
func Date(year int, month time.Month, day int) time.Time {
	return time.Date(year, month, day, 0, 0, 0, 0, cot)
}

// Overdue reports whether a term that ends at due has passed at now: whether
// now falls on a later calendar day in Colombia than due. For the values
// returned by this package it agrees with now.After(due) except in the last
// microsecond of the day, and it still gives the right answer when due was
// stored with less precision (seconds, milliseconds) or as 00:00 of the due
// date.
func Overdue(due, now time.Time) bool {
	return dateOf(due).before(dateOf(now))
}

// date is a civil (calendar) date with no time zone.
type date struct {
	y int
	m time.Month
	d int
}

// dateOf returns the Colombian calendar date of the instant t.
func dateOf(t time.Time) date { return fields(t.In(cot)) }

// fields returns the calendar date written in t, in t's own location.
func fields(t time.Time) date {
	y, m, d := t.Date()
	return date{y, m, d}
}

func (d date) utc() time.Time { return time.Date(d.y, d.m, d.d, 0, 0, 0, 0, time.UTC) }

func (d date) add(days int) date {
	return fields(time.Date(d.y, d.m, d.d+days, 0, 0, 0, 0, time.UTC))
}

// daysIn returns the number of days in month m of year y.
func daysIn(y int, m time.Month) int {
	// Day 0 of the next month is the last day of m.
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func (d date) weekday() time.Weekday { return d.utc().Weekday() }

func (d date) before(e date) bool {
	if d.y != e.y {
		return d.y < e.y
	}
	if d.m != e.m {
		return d.m < e.m
	}
	return d.d < e.d
}

func (d date) compare(e date) int {
	switch {
	case d.before(e):
		return -1
	case e.before(d):
		return 1
	}
	return 0
}

// start is 00:00 Colombia time of d.
func (d date) start() time.Time { return Date(d.y, d.m, d.d) }

// end is the last microsecond of d in Colombia time (see the package
// comment: microseconds survive a PostgreSQL round trip).
func (d date) end() time.Time {
	return time.Date(d.y, d.m, d.d, 23, 59, 59, 999999000, cot)
}

// nextMonday returns d if it is a Monday, else the Monday after d (Ley 51 de
// 1983, art. 1: the holiday moves to the following Monday).
func (d date) nextMonday() date {
	return d.add((int(time.Monday) - int(d.weekday()) + 7) % 7)
}

// Easter returns Western (Gregorian) Easter Sunday of year, at 00:00 Colombia
// time, computed with the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
// It is valid for every Gregorian year (1583 onwards).
func Easter(year int) time.Time {
	return easter(year).start()
}

func easter(year int) date {
	a := year % 19
	b := year / 100
	c := year % 100
	d := b / 4
	e := b % 4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i := c / 4
	k := c % 4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return date{year, time.Month(month), day}
}

// Holiday is a public holiday (festivo).
type Holiday struct {
	// Date is the day of the holiday. Only its calendar date counts: given
	// to New, the year, month and day are read as written, in Date's own
	// location, with no conversion (so 2026-05-04 00:00 UTC, as a YAML or
	// JSON date decodes, means 4 May, not 3 May in Colombia). Returned by
	// Holidays, it is 00:00 Colombia time.
	Date time.Time
	// Name is the holiday's name in Spanish. Two holidays on the same day
	// are returned as one, with both names joined by " / ".
	Name string
}

// Calendar answers business-day questions with the statutory holidays plus
// extra holidays given as data. It is immutable and safe for concurrent use.
// A nil or zero Calendar uses the statutory holidays only.
type Calendar struct {
	extra map[date]string
}

// New returns a Calendar with the statutory holidays plus extra, for
// holidays added by law after this code was written (or one-off days off
// decreed for a given year). An extra holiday on a day that is already a
// holiday, or on a weekend, changes no deadline; it is still listed by
// Holidays.
func New(extra []Holiday) *Calendar {
	c := &Calendar{extra: make(map[date]string, len(extra))}
	for _, h := range extra {
		d := fields(h.Date)
		c.extra[d] = joinNames(c.extra[d], h.Name)
	}
	return c
}

func joinNames(a, b string) string {
	switch {
	case a == "" || a == b:
		return b
	case b == "" || slices.Contains(strings.Split(a, " / "), b):
		return a
	}
	return a + " / " + b
}

type entry struct {
	d    date
	name string
}

// statutory returns the holidays of Ley 51 de 1983 for year, unsorted, and
// possibly with two entries on the same day.
func statutory(year int) []entry {
	e := easter(year)
	fixed := func(m time.Month, d int, name string) entry {
		return entry{date{year, m, d}, name}
	}
	moved := func(d date, name string) entry {
		return entry{d.nextMonday(), name}
	}
	movedFixed := func(m time.Month, d int, name string) entry {
		return moved(date{year, m, d}, name)
	}
	return []entry{
		// Fixed holidays, never moved.
		fixed(time.January, 1, "Año Nuevo"),
		fixed(time.May, 1, "Día del Trabajo"),
		fixed(time.July, 20, "Día de la Independencia"),
		fixed(time.August, 7, "Batalla de Boyacá"),
		fixed(time.December, 8, "Inmaculada Concepción"),
		fixed(time.December, 25, "Navidad"),
		{e.add(-3), "Jueves Santo"},
		{e.add(-2), "Viernes Santo"},
		// Moved to the following Monday ("Ley Emiliani").
		movedFixed(time.January, 6, "Día de los Reyes Magos"),
		movedFixed(time.March, 19, "Día de San José"),
		movedFixed(time.June, 29, "San Pedro y San Pablo"),
		movedFixed(time.August, 15, "Asunción de la Virgen"),
		movedFixed(time.October, 12, "Día de la Raza"),
		movedFixed(time.November, 1, "Todos los Santos"),
		movedFixed(time.November, 11, "Independencia de Cartagena"),
		moved(e.add(39), "Ascensión del Señor"),      // Thursday → Easter + 43
		moved(e.add(60), "Corpus Christi"),           // Thursday → Easter + 64
		moved(e.add(68), "Sagrado Corazón de Jesús"), // Friday → Easter + 71
	}
}

// Holidays returns the holidays of year, sorted by date, one entry per day:
// the statutory holidays of Ley 51 de 1983 and the extra holidays given to
// New. Holidays that fall on a weekend are listed too.
//
// Statutory holidays: 1 January, 1 May, 20 July, 7 August, 8 December, 25
// December, Holy Thursday and Good Friday on their day; 6 January, 19 March,
// 29 June, 15 August, 12 October, 1 November, 11 November, Ascension (Easter
// + 39), Corpus Christi (Easter + 60) and Sacred Heart (Easter + 68) on the
// following Monday when they do not fall on a Monday. The rules are those in
// force since 1984 and are applied to any year asked for.
func (c *Calendar) Holidays(year int) []Holiday {
	all := statutory(year)
	if c != nil {
		for d, name := range c.extra {
			if d.y == year {
				all = append(all, entry{d, name})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int { return a.d.compare(b.d) })
	var out []Holiday
	for _, e := range all {
		if n := len(out); n > 0 && fields(out[n-1].Date) == e.d {
			out[n-1].Name = joinNames(out[n-1].Name, e.name)
			continue
		}
		out = append(out, Holiday{Date: e.d.start(), Name: e.name})
	}
	return out
}

func (c *Calendar) isHoliday(d date) bool {
	if c != nil {
		if _, ok := c.extra[d]; ok {
			return true
		}
	}
	return slices.Contains(statutoryDates(d.y), d)
}

// statutoryCache holds statutoryDates per year: the function is pure, and a
// deadline computation asks about the same year dozens of times.
var statutoryCache struct {
	sync.Mutex
	years map[int][]date
}

// statutoryDates returns the days of the statutory holidays of year.
func statutoryDates(year int) []date {
	statutoryCache.Lock()
	defer statutoryCache.Unlock()
	if ds, ok := statutoryCache.years[year]; ok {
		return ds
	}
	if statutoryCache.years == nil || len(statutoryCache.years) >= 512 {
		statutoryCache.years = make(map[int][]date) // bound the memory
	}
	var ds []date
	for _, e := range statutory(year) {
		ds = append(ds, e.d)
	}
	statutoryCache.years[year] = ds
	return ds
}

func (c *Calendar) isBusinessDate(d date) bool {
	switch d.weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	return !c.isHoliday(d)
}

// IsBusinessDay reports whether the instant t falls, in Colombia, on a
// business day: Monday to Friday and not a holiday. To ask about a calendar
// date, pass Date(year, month, day).
func (c *Calendar) IsBusinessDay(t time.Time) bool {
	return c.isBusinessDate(dateOf(t))
}

// AddBusinessDays returns the due date (the end of the day, see the package
// comment) of the n-th business day after the Colombian calendar date of
// start; start's own day never counts. If n is 0 it returns start's day if
// that is a business day, else the next business day. If n is negative it
// returns the |n|-th business day before start's day.
func (c *Calendar) AddBusinessDays(start time.Time, n int) time.Time {
	return c.add(dateOf(start), n).end()
}

func (c *Calendar) add(d date, n int) date {
	switch {
	case n > 0:
		for n > 0 {
			d = d.add(1)
			if c.isBusinessDate(d) {
				n--
			}
		}
	case n < 0:
		for n < 0 {
			d = d.add(-1)
			if c.isBusinessDate(d) {
				n++
			}
		}
	default:
		for !c.isBusinessDate(d) {
			d = d.add(1)
		}
	}
	return d
}

// ConsultaDue returns the due date of a consulta (a request to know what
// data is held and how it is used) received at received: Ley 1581 de 2012,
// art. 14, "diez (10) días hábiles contados a partir de la fecha de recibo".
//
// Unlike the reclamo (art. 15, "a partir del día siguiente"), art. 14 counts
// from the date of receipt, so the day of receipt is day 1 when it is a
// business day, whatever the hour; a consulta received on a weekend or
// holiday has the next business day as day 1. This is the stricter of the
// possible readings (it is one day earlier than counting from the next day),
// so a response on time by it is on time by any reading. Example: received
// Monday 2 February 2026 (any hour) → due Friday 13 February 2026.
func (c *Calendar) ConsultaDue(received time.Time) time.Time {
	return c.consultaDue(received).end()
}

func (c *Calendar) consultaDue(received time.Time) date {
	// The 10th business day on or after the day of receipt is the 10th
	// business day after the day before it.
	return c.add(dateOf(received).add(-1), 10)
}

// ConsultaExtended returns the latest date to which the answer to a consulta
// may be postponed: Ley 1581 de 2012, art. 14, "en ningún caso podrá superar
// los cinco (5) días hábiles siguientes al vencimiento del primer término",
// i.e. 5 business days after ConsultaDue. The titular must be told the
// reasons and the new date before ConsultaDue.
func (c *Calendar) ConsultaExtended(received time.Time) time.Time {
	return c.add(c.consultaDue(received), 5).end()
}

// ReclamoDue returns the due date of a reclamo (correction, update, deletion
// or revocation) received at received: Ley 1581 de 2012, art. 15, "quince
// (15) días hábiles contados a partir del día siguiente a la fecha de su
// recibo"; the day of receipt never counts. For a reclamo that was
// incomplete, pass the time the complete reclamo was received. Example:
// received Monday 16 March 2026 → due Thursday 9 April 2026.
func (c *Calendar) ReclamoDue(received time.Time) time.Time {
	return c.AddBusinessDays(received, 15)
}

// ReclamoExtended returns the latest date to which the answer to a reclamo
// may be postponed: Ley 1581 de 2012, art. 15, "en ningún caso podrá superar
// los ocho (8) días hábiles siguientes al vencimiento del primer término",
// i.e. 8 business days after ReclamoDue. The titular must be told the
// reasons and the new date before ReclamoDue.
func (c *Calendar) ReclamoExtended(received time.Time) time.Time {
	return c.AddBusinessDays(c.ReclamoDue(received), 8)
}

// IncompleteReclamoRequestDue returns the date by which the responsable must
// ask the titular to complete an incomplete reclamo: Ley 1581 de 2012, art.
// 15, "se requerirá al interesado dentro de los cinco (5) días siguientes a
// la recepción del reclamo". Days in legal terms are business days unless
// the law says otherwise (Ley 4 de 1913, art. 62), counted from the day after
// receipt.
func (c *Calendar) IncompleteReclamoRequestDue(received time.Time) time.Time {
	return c.AddBusinessDays(received, 5)
}

// WithdrawalDate returns the last day on which the titular may still
// complete a reclamo after being asked for the missing information at
// requestedInfoAt; once it has passed (Overdue), the reclamo is deemed
// withdrawn: Ley 1581 de 2012, art. 15, "transcurridos dos (2) meses desde
// la fecha del requerimiento, sin que el solicitante presente la información
// requerida, se entenderá que ha desistido del reclamo".
//
// The two months are calendar months, not business days, counted as Ley 4 de
// 1913 requires: the term ends on the day with the same number two months
// later (art. 59), or on the last day of that month if it is shorter (asked
// 31 December → 28 or 29 February), and when that day is not a business day
// the term runs to the next business day (art. 62).
func (c *Calendar) WithdrawalDate(requestedInfoAt time.Time) time.Time {
	d := dateOf(requestedInfoAt)
	y, m := d.y, d.m+2
	if m > time.December {
		y, m = y+1, m-12
	}
	last := daysIn(y, m)
	return c.add(date{y, m, min(d.d, last)}, 0).end()
}

// LegendDue returns the date by which the legend "reclamo en trámite" (and
// the reason for the reclamo) must be shown with the titular's data: Ley 1581
// de 2012, art. 15, "una vez recibido el reclamo completo, se incluirá en la
// base de datos una leyenda que diga 'reclamo en trámite' y el motivo del
// mismo, en un término no mayor a dos (2) días hábiles", counted from the day
// after receipt of the complete reclamo. The legend stays until the reclamo
// is decided.
func (c *Calendar) LegendDue(received time.Time) time.Time {
	return c.AddBusinessDays(received, 2)
}

// IncidentReportDue returns the date by which a security incident must be
// reported to the SIC (Registro Nacional de Bases de Datos): "dentro de los
// quince (15) días hábiles siguientes al momento en que se detecten y sean
// puestos en conocimiento de la persona o área encargada de atenderlos" (SIC,
// Circular Externa 003 de 2018, now in the Circular Única, Título V), the
// duty of Ley 1581 de 2012, art. 17 lit. n. Pass as detected the moment the
// incident reached the person or team in charge of handling it; the day of
// detection does not count.
func (c *Calendar) IncidentReportDue(detected time.Time) time.Time {
	return c.AddBusinessDays(detected, 15)
}
