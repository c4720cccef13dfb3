package identity_test

import (
	"testing"

	"github.com/portero-id/portero/identity"
)

func TestDeviceOf(t *testing.T) {
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	const chromeAndroid = "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0 Mobile Safari/537.36"
	for _, tc := range []struct {
		ip, ua, name, network string
	}{
		{"203.0.113.77", firefox, "Firefox · Linux", "203.0.113.0/24"},
		{"2001:db8:aa:bb::1", chromeAndroid, "Chrome · Android", "2001:db8:aa::/48"},
		{"::ffff:198.51.100.9", "curl/8.0", "?", "198.51.100.0/24"},
		{"not an address", firefox, "Firefox · Linux", ""},
	} {
		d := identity.DeviceOf(tc.ip, tc.ua)
		if d.Name() != tc.name || d.Network != tc.network {
			t.Errorf("DeviceOf(%s, %.20s) = %q %q, want %q %q", tc.ip, tc.ua, d.Name(), d.Network, tc.name, tc.network)
		}
	}
	home := identity.DeviceOf("203.0.113.77", firefox)
	if !home.Same(identity.DeviceOf("203.0.113.12", firefox)) {
		t.Error("a new address in the same /24 is a new device")
	}
	if home.Same(identity.DeviceOf("198.51.100.1", firefox)) || home.Same(identity.DeviceOf("203.0.113.77", chromeAndroid)) {
		t.Error("another network or another browser is the same device")
	}
}
