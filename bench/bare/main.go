// Command bare is bench/run.sh's baseline: a bare net/http server that
// parses the same POST form as the token and introspection endpoints and
// answers a small JSON body, with nothing of Portero behind it. Its req/s,
// measured in the same run and on the same machine, turns Portero's
// figures into ratios that survive the machine's ±2× drift from day to
// day.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18481", "listen address (loopback)")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || (r.PostForm.Get("grant_type") == "" && r.PostForm.Get("token") == "") {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"x","token_type":"bearer","expires_in":900}`))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
