// Package calendar computes Colombian business days (días hábiles) and the
// legal deadlines that Portero must meet when it answers data-subject
// requests under Ley Estatutaria 1581 de 2012 (habeas data) and reports
// security incidents to the Superintendencia de Industria y Comercio (SIC).
//
// # Business days
//
// A business day is Monday to Friday, unless it is a public holiday
// (festivo). The statutory holidays are computed from the rules of Ley 51 de
// 1983 (see [Calendar.Holidays]); holidays that Congress adds later are data,
// passed to [New], not code.
//
// # Time zone
//
// Every instant is read as a calendar date in Colombia. Colombia has used
// UTC−5 all year since February 1993 (its only daylight-saving period, UTC−4,
// ran from May 1992 to February 1993 per the tz database), so the package
// uses the fixed zone time.FixedZone("COT", -5*3600) (see [Location])
// instead of time.LoadLocation("America/Bogota"): it gives the same answers
// for every instant since 1993, needs no tz database on the host (minimal
// containers often have none, and LoadLocation would then fail at run time)
// and does not embed time/tzdata (about 450 KB) in the binary. Only instants
// in 1992–93 near midnight would be read differently, which does not matter
// for requests received today. If Colombia ever adopts daylight saving
// again, switch to LoadLocation with time/tzdata.
//
// # Due dates
//
// A legal term ends at the end of its last business day. Every function that
// returns a due date returns the last instant of that day in Colombia,
// 23:59:59.999999 −05:00, so:
//
//   - the value shows the right date when formatted in Colombian time;
//   - a request is overdue when now.After(due), exact to the microsecond;
//     [Overdue] is exact (it compares calendar dates) and also survives
//     storage that drops sub-second precision;
//   - the value is exact to the microsecond, the precision of PostgreSQL
//     TIMESTAMPTZ, so it survives a database round trip unchanged (a
//     nanosecond value such as 23:59:59.999999999 would be rounded up to
//     00:00 of the next day by PostgreSQL).
//
// Due dates are fixed when a request is received: store them with the
// request; do not recompute them later with a different holiday list.
package calendar
