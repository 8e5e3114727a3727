package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// What "dpmon config defaults" prints is a configuration that reads back
// as the defaults, every key described, and no description left over.
func TestConfigDefaultsReadBack(t *testing.T) {
	var out strings.Builder
	if err := writeConfigDefaults(&out); err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	annotate(&doc, "", keys)
	for key := range configDocs {
		if !keys[key] {
			t.Errorf("configDocs describes %s, which the configuration does not have", key)
		}
	}
	for key := range keys {
		if configDocs[key] == "" {
			t.Errorf("%s has no description", key)
		}
	}
	path := filepath.Join(t.TempDir(), "defaults.yaml")
	if err := os.WriteFile(path, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configure([]string{"--config", path}, func(string) string { return "" }, &strings.Builder{})
	if err != nil {
		t.Fatalf("the defaults printed do not read back: %v\n%s", err, out.String())
	}
	// Compared as YAML: an empty list reads back empty, not nil.
	got, _ := yaml.Marshal(cfg)
	want, _ := yaml.Marshal(defaultConfig())
	if string(got) != string(want) {
		t.Errorf("the defaults read back differ from the defaults:\n%s\nwant:\n%s", got, want)
	}
}

// The README's configuration reference is what "dpmon config defaults"
// prints: CI fails when the two drift.
func TestREADMEConfigurationIsGenerated(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- begin: dpmon config defaults -->\n```yaml\n", "```\n<!-- end: dpmon config defaults -->"
	s := string(readme)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("the README has no block between %q and %q", begin, end)
	}
	var out strings.Builder
	if err := writeConfigDefaults(&out); err != nil {
		t.Fatal(err)
	}
	if got := s[i+len(begin) : j]; got != out.String() {
		t.Errorf("the README's configuration differs from \"dpmon config defaults\": regenerate it:\n%s", out.String())
	}
}
