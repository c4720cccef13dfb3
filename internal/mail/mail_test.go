package mail

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeRelay speaks just enough SMTP (no STARTTLS; AUTH PLAIN offered) to
// receive one message, and returns its DATA, or "AUTH" if the client sent
// credentials.
func fakeRelay(t *testing.T, host string) (addr string, data <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		say := func(s string) { _, _ = io.WriteString(conn, s+"\r\n") }
		say("220 relay ready")
		var body strings.Builder
		inData := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if inData {
				if line == ".\r\n" {
					inData = false
					out <- body.String()
					say("250 queued")
					continue
				}
				body.WriteString(line)
				continue
			}
			switch cmd := strings.ToUpper(strings.Fields(line)[0]); cmd {
			case "EHLO", "HELO":
				say("250-relay")
				say("250 AUTH PLAIN")
			case "AUTH":
				out <- "AUTH"
				say("235 ok")
			case "DATA":
				inData = true
				say("354 go ahead")
			case "QUIT":
				say("221 bye")
				return
			default:
				say("250 ok")
			}
		}
	}()
	return ln.Addr().String(), out
}

func TestSMTPSend(t *testing.T) {
	addr, data := fakeRelay(t, "127.0.0.1")
	s := &SMTP{Address: addr, From: "Portero <no-reply@portero.example>", Timeout: 5 * time.Second}
	err := s.Send(context.Background(), Message{To: "ana@example.co", Subject: "Verifique su correo", Text: "Hola:\nabra el enlace\n"})
	if err != nil {
		t.Fatal(err)
	}
	got := <-data
	for _, want := range []string{
		"From: \"Portero\" <no-reply@portero.example>\r\n",
		"To: <ana@example.co>\r\n",
		"Subject: Verifique su correo\r\n",
		"Content-Type: text/plain; charset=utf-8\r\n",
		"\r\n\r\nHola:\r\nabra el enlace\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("message lacks %q:\n%s", want, got)
		}
	}
}

func TestSMTPRefusesInjectionAndPlaintextAuth(t *testing.T) {
	s := &SMTP{Address: "127.0.0.1:1", From: "no-reply@portero.example", Timeout: time.Second}
	for _, m := range []Message{
		{To: "ana@example.co", Subject: "hi\r\nBcc: victim@example.com"},
		{To: "ana@example.co\r\nBcc: victim@example.com", Subject: "hi"},
		{To: "not an address", Subject: "hi"},
	} {
		if err := s.Send(context.Background(), m); err == nil || strings.Contains(err.Error(), "dial") {
			t.Errorf("%q / %q: %v", m.To, m.Subject, err)
		}
	}
	// A relay without STARTTLS must not receive the password. net/smtp's
	// PlainAuth sends it in the clear only to localhost; 127.0.0.2 is a
	// loopback address that net/smtp does not count as localhost, so it
	// stands for a remote relay.
	addr, data := fakeRelay(t, "127.0.0.2")
	s = &SMTP{Address: addr, From: "no-reply@portero.example", Username: "u", Password: "p", Timeout: 5 * time.Second}
	err := s.Send(context.Background(), Message{To: "ana@example.co", Subject: "hi", Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "auth") {
		t.Fatalf("plaintext AUTH: %v", err)
	}
	select {
	case got := <-data:
		t.Fatalf("the relay received %q", got)
	default:
	}
}

func TestNonASCIISubjectIsEncoded(t *testing.T) {
	if got := mimeWord("Contraseña"); !strings.HasPrefix(got, "=?utf-8?q?") {
		t.Fatalf("subject %q not RFC 2047-encoded", got)
	}
}

func TestDevKeepsTheLatest(t *testing.T) {
	d := &Dev{Log: slog.New(slog.DiscardHandler), Keep: 2}
	for _, to := range []string{"a@x.co", "b@x.co", "a@x.co"} {
		_ = d.Send(context.Background(), Message{To: to, Subject: "s", Text: to})
	}
	if n := len(d.Messages()); n != 2 {
		t.Fatalf("kept %d", n)
	}
	if m, ok := d.Last("a@x.co"); !ok || m.To != "a@x.co" {
		t.Fatalf("last: %+v %v", m, ok)
	}
	if _, ok := d.Last("nobody@x.co"); ok {
		t.Fatal("found a message never sent")
	}
}
