package resource_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/portero-id/portero/resource"
)

// A service that lists orders for vendors only.
func Example() {
	ctx := context.Background()
	v, err := resource.New(ctx, resource.Config{
		Issuer:       "https://id.example.com",
		ClientID:     "orders-api",
		ClientSecret: os.Getenv("ORDERS_CLIENT_SECRET"),
	})
	if err != nil {
		log.Fatal(err)
	}
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := resource.FromContext(r.Context())
		fmt.Fprintf(w, "orders of %s\n", claims.Subject)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware(resource.RequireRole("vendor")(orders)))
	mux.Handle("POST /orders", v.Middleware(resource.RequireScope("orders:write")(orders)))
	log.Fatal(http.ListenAndServe(":8081", mux))
}

// Local verification of JWT access tokens, with revocations still seen
// through the (cached) introspection.
func ExampleNew_localJWT() {
	v, err := resource.New(context.Background(), resource.Config{
		Issuer:          "https://id.example.com",
		Audience:        "orders-api",
		Mode:            resource.LocalJWT,
		RevocationCheck: true,
		ClientID:        "orders-api",
		ClientSecret:    os.Getenv("ORDERS_CLIENT_SECRET"),
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = v
}
