// Package mail sends Portero's e-mail (verification and password reset
// links) through an SMTP relay, or, in dev mode, keeps and logs it.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"sync"
	"time"
)

// Message is a plain-text e-mail.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTP sends through a relay with STARTTLS; it refuses to authenticate
// over a connection that is not encrypted.
type SMTP struct {
	Address  string // host:port
	From     string
	Username string
	Password string
	Timeout  time.Duration
}

// Send delivers m. Header injection is impossible: addresses are parsed
// and the subject may not contain line breaks.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mail: subject contains a line break")
	}
	host, _, err := net.SplitHostPort(s.Address)
	if err != nil {
		return fmt.Errorf("mail: relay address: %w", err)
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", s.Address)
	if err != nil {
		return fmt.Errorf("mail: dial relay: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return errors.Join(fmt.Errorf("mail: relay greeting: %w", err), conn.Close())
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("mail: starttls: %w", err)
		}
	}
	if s.Username != "" {
		// net/smtp's PlainAuth refuses unencrypted connections except to
		// localhost, which is what we want.
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("mail: auth: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	body := compose(from, to, m.Subject, m.Text, time.Now())
	if _, err := w.Write([]byte(body)); err != nil {
		return fmt.Errorf("mail: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: end of data: %w", err)
	}
	return c.Quit()
}

func compose(from, to *mail.Address, subject, text string, at time.Time) string {
	var b strings.Builder
	b.WriteString("From: " + from.String() + "\r\n")
	b.WriteString("To: " + to.String() + "\r\n")
	b.WriteString("Subject: " + mimeWord(subject) + "\r\n")
	b.WriteString("Date: " + at.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n"))
	return b.String()
}

// mimeWord encodes a non-ASCII subject (RFC 2047).
func mimeWord(s string) string {
	for _, r := range s {
		if r > 127 {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// Dev keeps the last messages in memory and logs each one: the links in
// them are how a developer completes sign-up and password reset locally.
type Dev struct {
	Log *slog.Logger
	// Keep is how many messages are kept; 0 means 50.
	Keep int

	mu   sync.Mutex
	sent []Sent
}

// Sent is a message Dev received.
type Sent struct {
	Message
	At time.Time
}

// Send records m.
func (d *Dev) Send(ctx context.Context, m Message) error {
	keep := d.Keep
	if keep == 0 {
		keep = 50
	}
	d.mu.Lock()
	d.sent = append(d.sent, Sent{Message: m, At: time.Now()})
	if len(d.sent) > keep {
		d.sent = d.sent[len(d.sent)-keep:]
	}
	d.mu.Unlock()
	d.Log.WarnContext(ctx, "dev mail (not sent; also at /dev/mail)", "to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}

// Messages returns the kept messages, newest first.
func (d *Dev) Messages() []Sent {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Sent, len(d.sent))
	for i, m := range d.sent {
		out[len(d.sent)-1-i] = m
	}
	return out
}

// Last returns the newest message to addr, if any (for tests and the dev page).
func (d *Dev) Last(addr string) (Sent, bool) {
	for _, m := range d.Messages() {
		if strings.EqualFold(m.To, addr) {
			return m, true
		}
	}
	return Sent{}, false
}
