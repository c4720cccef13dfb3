package identity

import (
	"errors"
	"strings"
)

// Kind is what sort of refusal an error is. Every surface maps a kind to
// its own answer, in one place each: an HTTP status and an RFC 9457
// problem (admin API), a status and a translated message (pages), an OAuth
// error (protocol endpoints). An error without a kind is a fault.
type Kind uint8

const (
	KindNone         Kind = iota // not a refusal: a fault (500)
	KindInvalid                  // the input breaks a rule
	KindNotFound                 // no such record
	KindConflict                 // the records' state does not allow it
	KindForbidden                // a guard rail refuses this actor
	KindPrecondition             // the caller's view of the record is stale
	KindUnavailable              // the storage failed: try again shortly
)

// Error is a refusal with a kind and a stable code. The code is the admin
// API's problem type and names the pages' message (with '-' turned '_');
// the message is English, for logs and the API's detail. Errors are
// compared with errors.Is, as sentinels.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// refines is the broader refusal this one is a case of (errors.Is
	// finds it too).
	refines *Error
}

func (e *Error) Error() string { return e.Message }

// Is makes a refinement match the refusal it refines.
func (e *Error) Is(target error) bool { return e.refines != nil && target == error(e.refines) }

func newError(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// NewError makes a refusal for another package's rules (manage's guard
// rails).
func NewError(kind Kind, code, message string) *Error { return newError(kind, code, message) }

// ErrorKind is the kind of the first *Error in err's chain, KindNone if none.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindNone
}

// ErrorCode is the code of the first *Error in err's chain, "" if none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Detail is what err says beyond its *Error's own message: the "which"
// that the code wrapping the refusal added ("role vendor is still held"),
// or "" when it added nothing. Refusals are wrapped as "%w: detail" or
// "detail: %w"; this is the one place that knows it.
func Detail(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	s := err.Error()
	s = strings.TrimPrefix(s, e.Message+": ")
	s = strings.TrimSuffix(s, ": "+e.Message)
	if s == e.Message {
		return ""
	}
	return s
}
