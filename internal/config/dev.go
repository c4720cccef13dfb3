package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// DevSecretFile is the name of the file, next to the SQLite database, that
// holds the development system secret.
const DevSecretFile = "system-secret"

// DevSecretPath returns where PrepareDev keeps the development system secret:
// DevSecretFile in the directory of database.sqlite_path.
func (c *Config) DevSecretPath() string {
	return filepath.Join(filepath.Dir(c.Database.SQLitePath), DevSecretFile)
}

// PrepareDev applies dev mode (--dev) before Validate: when secrets.system is
// empty it reads the development secret from DevSecretPath, or generates
// one there (32 random bytes, base64url without padding, file mode 0600 in a
// directory created 0700) and logs a WARN line with its path, never the
// secret. A configured secrets.system is left alone. It also drops the
// drain period unless one was configured: no load balancer waits for a
// development server.
func (c *Config) PrepareDev(logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if c.sources["http.drain_period"] == "" {
		c.HTTP.DrainPeriod = 0
	}
	if c.Secrets.System != "" {
		return nil
	}
	path := c.DevSecretPath()
	secret, err := readDevSecret(path)
	if errors.Is(err, fs.ErrNotExist) {
		secret, err = writeDevSecret(path)
		if errors.Is(err, fs.ErrExist) {
			// Another process generated it first: use theirs.
			secret, err = readDevSecret(path)
		} else if err == nil {
			logger.Warn("DEVELOPMENT MODE: generated a new system secret and stored it unencrypted on disk; "+
				"never use --dev in production, set secrets.system instead", "path", path)
		}
	} else if err == nil {
		logger.Info("dev mode: using the development system secret", "path", path)
	}
	if err != nil {
		return fmt.Errorf("secrets.system: %w", err)
	}
	c.Secrets.System = secret
	c.setSource("secrets.system", path)
	return nil
}

func readDevSecret(path string) (string, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- the dev secret beside database.sqlite_path, from the operator's configuration
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if len(s) < MinSecretLength {
		return "", fmt.Errorf("the development secret in %s is shorter than %d characters; "+
			"fix it or delete the file to generate a new one (data encrypted with the old one becomes unreadable)", path, MinSecretLength)
	}
	return s, nil
}

func writeDevSecret(path string) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return "", fmt.Errorf("generating a development secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("creating the directory for the development secret: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the dev secret beside database.sqlite_path, from the operator's configuration
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(secret + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("writing the development secret: %w", err)
	}
	return secret, nil
}

// NewLogger returns a logger writing to w at l.Level in l.Format, where an
// empty format means text in dev mode and json otherwise. It expects a
// validated Log; an unknown level means info.
func (l Log) NewLogger(w io.Writer, dev bool) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "text" || l.Format == "" && dev {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
