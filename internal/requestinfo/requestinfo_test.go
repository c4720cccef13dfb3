package requestinfo

import (
	"context"
	"testing"
)

func TestSetClientReachesTheInfo(t *testing.T) {
	ctx, info := With(context.Background())
	if info.ClientID() != "" {
		t.Fatalf("fresh info has client %q", info.ClientID())
	}
	SetClient(ctx, "")
	SetClient(ctx, "shop")
	if got := info.ClientID(); got != "shop" {
		t.Fatalf("client = %q, want shop", got)
	}
	SetClient(context.Background(), "nobody") // outside a request: ignored, no panic
}
