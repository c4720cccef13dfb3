package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/portero-id/portero/identity"
)

// PublishLegalTexts stores the texts not stored yet, in one transaction: a
// stored text with another digest refuses the whole publication.
func (s *Store) PublishLegalTexts(ctx context.Context, texts []identity.PublishedText) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		for _, t := range texts {
			stored, err := s.LegalTextByVersion(ctx, t.Kind, t.Ref, t.Version, t.Lang)
			switch {
			case err == nil && stored.SHA256 != t.SHA256:
				return fmt.Errorf("%s %s version %s (%s): %w", t.Kind, t.Ref, t.Version, t.Lang, identity.ErrLegalTextChanged)
			case err == nil:
				continue
			case !errors.Is(err, identity.ErrNotFound):
				return err
			}
			_, err = s.exec(ctx, `INSERT INTO legal_texts (kind, ref, version, lang, format, body, sha256, published_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				t.Kind, t.Ref, t.Version, t.Lang, t.Format, t.Body, t.SHA256, s.timeArg(t.PublishedAt))
			if isDuplicate(err) {
				// Another replica published it meanwhile; compare with theirs.
				return s.publishedAgain(ctx, t)
			}
			if err != nil {
				return failed("publish legal text", err)
			}
		}
		return nil
	})
}

func (s *Store) publishedAgain(ctx context.Context, t identity.PublishedText) error {
	stored, err := s.LegalTextByVersion(ctx, t.Kind, t.Ref, t.Version, t.Lang)
	if err != nil {
		return err
	}
	if stored.SHA256 != t.SHA256 {
		return fmt.Errorf("%s %s version %s (%s): %w", t.Kind, t.Ref, t.Version, t.Lang, identity.ErrLegalTextChanged)
	}
	return nil
}

// LegalTextByVersion returns one stored text.
func (s *Store) LegalTextByVersion(ctx context.Context, kind, ref, version, lang string) (*identity.PublishedText, error) {
	var t identity.PublishedText
	var at dbTime
	found, err := s.queryOne(ctx, func(row scanner) error {
		return row.Scan(&t.Kind, &t.Ref, &t.Version, &t.Lang, &t.Format, &t.Body, &t.SHA256, &at)
	}, `SELECT kind, ref, version, lang, format, body, sha256, published_at FROM legal_texts
		WHERE kind = ? AND ref = ? AND version = ? AND lang = ?`, kind, ref, version, lang)
	if err != nil {
		return nil, failed("legal text", err)
	}
	if !found {
		return nil, fmt.Errorf("legal text %s %s %s %s: %w", kind, ref, version, lang, identity.ErrNotFound)
	}
	t.PublishedAt = at.Time
	return &t, nil
}
