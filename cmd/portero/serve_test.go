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
	// The container health check agrees, and fails on a port nobody serves.
	c.ok("", "probe", "--url", base+"/health/ready")
	if _, _, err := c.run("", "probe", "--url", base+"/nowhere"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("probe of a missing endpoint: %v", err)
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

// TestBootstrap: on an empty database, bootstrap creates the first
// super_admin and a one-time link; the link sets a password, and signing
// in then requires enrolling a second factor. A second bootstrap refuses.
func TestBootstrap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	c := newCLI(t)
	c.env = append(c.env, "PORTERO_HTTP_ADDRESS="+addr, "PORTERO_ISSUER=http://localhost:"+port)

	var v struct {
		UserID, Username, Link string
	}
	c.jsonOut(&v, "bootstrap", "--admin-email", "root@example.co")
	if v.Username != "admin" || !strings.HasPrefix(v.Link, "http://localhost:"+port+"/password/reset?token=") {
		t.Fatalf("bootstrap: %+v", v)
	}
	if _, _, err := c.run("", "bootstrap", "--admin-email", "other@example.co"); err == nil || !strings.Contains(err.Error(), "already has users") {
		t.Fatalf("second bootstrap: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev"}, strings.NewReader(""), io.Discard, io.Discard, c.env)
	}()
	defer func() {
		cancel()
		<-done
	}()
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(base + "/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	token := v.Link[strings.Index(v.Link, "token=")+len("token="):]
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(base+"/password/reset", url.Values{"token": {token}, "password": {"la primera clave del administrador"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?notice=reset" {
		t.Fatalf("setting the password: %d %q", resp.StatusCode, loc)
	}
	resp, err = noRedirect.PostForm(base+"/login", url.Values{"username": {"admin"}, "password": {"la primera clave del administrador"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login/enroll") {
		t.Fatalf("a super_admin must enrol a second factor: %d %q", resp.StatusCode, loc)
	}
}
