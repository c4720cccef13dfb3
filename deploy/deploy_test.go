// Package deploy holds the deployment artefacts (compose/, kubernetes/).
// Their schemas are checked by tools/deploycheck; this test checks that the
// Portero configuration they carry is one this version accepts.
package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/portero-id/portero/internal/config"
)

// sample values for the variables the artefacts leave to the operator.
var samples = map[string]string{
	"PORTERO_ISSUER":        "https://id.example.com",
	"PORTERO_SYSTEM_SECRET": "sample-system-secret-0123456789abcdefghij",
	"PORTERO_SMTP_ADDRESS":  "smtp.example.com:587",
	"PORTERO_MAIL_FROM":     "Portero <no-reply@example.com>",
}

var variable = regexp.MustCompile(`\$\{([A-Z0-9_]+)[^}]*\}`)

// interpolate replaces ${NAME…} as docker compose would, with samples.
func interpolate(s string) string {
	return variable.ReplaceAllStringFunc(s, func(m string) string {
		name := variable.FindStringSubmatch(m)[1]
		if v, ok := samples[name]; ok {
			return v
		}
		return "sample"
	})
}

const exampleLegal = "../internal/legal/example/legal.yaml"

func TestComposeConfiguresPortero(t *testing.T) {
	data, err := os.ReadFile("compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Portero struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"x-portero"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	known := config.EnvNames()
	var env []string
	for name, value := range file.Portero.Environment {
		if !slices.Contains(known, name) {
			t.Errorf("compose sets %s, which is no configuration key", name)
		}
		if name == "PORTERO_LEGAL_FILE" {
			value = exampleLegal
		}
		env = append(env, name+"="+interpolate(value))
	}
	load(t, "", env)
}

func TestKubernetesConfigMapConfiguresPortero(t *testing.T) {
	data, err := os.ReadFile("kubernetes/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "portero.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["portero.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	// What deployment.yaml's instructions put in the portero-secrets Secret.
	load(t, path, []string{
		"PORTERO_SECRETS_SYSTEM=" + samples["PORTERO_SYSTEM_SECRET"],
		"PORTERO_DATABASE_URL=postgres://portero_app:sample@postgres:5432/portero?sslmode=verify-full",
		"PORTERO_REDIS_URL=rediss://:sample@redis:6379/0",
		"PORTERO_LEGAL_FILE=" + exampleLegal,
	})
}

func load(t *testing.T, path string, env []string) {
	t.Helper()
	cfg, err := config.Load(path, env)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := cfg.Validate(false); err != nil {
		t.Fatalf("a production server would refuse this configuration: %v", err)
	}
	if cfg.Database.MigrateOnStart {
		t.Error("the servers migrate on start: migrations run once, as the schema owner")
	}
	if cfg.HTTP.DrainPeriod == 0 {
		t.Error("no drain period: in-flight requests would fail at a rolling update")
	}
}
