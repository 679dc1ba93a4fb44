package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEFlagTable: the README's table of flags lists every flag, with
// the default the code has, and no other, so that neither drifts from the
// other.
func TestREADMEFlagTable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "| flag | default | meaning |\n|---|---|---|\n")
	if !ok {
		t.Fatal("README.md has no flag table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	row := regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\|([^|]*)\\|")
	type entry struct{ name, def string }
	var listed []entry
	for line := range strings.SplitSeq(table, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("README flag table: a row that is not | `--flag` | default | meaning |: %q", line)
			continue
		}
		listed = append(listed, entry{m[1], strings.TrimSpace(m[2])})
	}
	byName := map[string]string{}
	for _, e := range listed {
		byName[e.name] = e.def
	}
	for _, o := range options {
		def, ok := byName[o.name]
		switch {
		case !ok:
			t.Errorf("README's flag table lacks --%s", o.name)
		case o.bool:
			if def != "" {
				t.Errorf("README: --%s is a switch; its default cell should be empty, not %q", o.name, def)
			}
		case o.def == "":
			if !strings.HasPrefix(def, "empty") && def != "none" {
				t.Errorf("README: --%s has no default; the table says %q (want empty = … or none)", o.name, def)
			}
		case def != "`"+o.def+"`":
			t.Errorf("README: --%s defaults to %s, the table says %s", o.name, o.def, def)
		}
	}
	known := map[string]bool{}
	for _, o := range options {
		known[o.name] = true
	}
	for _, e := range listed {
		if !known[e.name] {
			t.Errorf("README's flag table lists --%s, which catqms does not have", e.name)
		}
	}
}
