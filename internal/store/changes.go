package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChangesChannel is the PostgreSQL channel on which the database announces
// changes to clients ("clients:<id>"), the role catalog ("roles",
// "role_includes", "role_permissions") and the signing keys
// ("signing_keys"): triggers in migrations/postgres/00009 send them in the
// transaction that makes the change, whoever makes it.
const ChangesChannel = "portero_changes"

// ErrNoChanges means the store cannot announce changes: SQLite serves a
// single process.
var ErrNoChanges = errors.New("store: change notifications need PostgreSQL")

// ListenChanges calls onChange with the payload of every change announced
// until ctx ends. It keeps its own connection (not one of the pool's) and
// reconnects after a failure; resync runs after every (re)connection,
// before the first notification, because changes made while it was not
// listening were not heard: the caller drops or reloads everything it
// cached. It returns ErrNoChanges on SQLite at once, else ctx's error.
func (s *Store) ListenChanges(ctx context.Context, resync func(), onChange func(payload string), onError func(error)) error {
	if s.dsn == "" {
		return ErrNoChanges
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, resync, onChange)
		if ctx.Err() != nil {
			break
		}
		onError(err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return ctx.Err()
}

func (s *Store) listenOnce(ctx context.Context, resync func(), onChange func(string)) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx) // the listening connection only; nothing to flush
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+ChangesChannel); err != nil {
		return err
	}
	resync()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		onChange(n.Payload)
	}
}
