package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestServeDev runs `portero serve --dev` as README's first command does:
// no configuration, and a sign-up whose verification link shows up at
// /dev/mail (development mode has no SMTP relay).
func TestServeDev(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	c := newCLI(t)
	c.env = append(c.env, "PORTERO_HTTP_ADDRESS="+addr, "PORTERO_ISSUER=http://localhost:"+port)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--dev"}, strings.NewReader(""), io.Discard, &stderr, c.env)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, stderr.String())
		}
	}()

	base := "http://" + addr
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if status, _ := get("/health/ready"); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve --dev did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.PostForm(base+"/signup", url.Values{"username": {"demo"}, "email": {"demo@example.com"}, "password": {"una frase larga de prueba"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-up in dev mode: %d", resp.StatusCode)
	}
	for {
		status, body := get("/dev/mail")
		if status == http.StatusOK && strings.Contains(body, "/verify-email?token=") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verification link at /dev/mail: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
