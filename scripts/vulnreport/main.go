// Command vulnreport reads govulncheck's JSON stream (-format json) and
// decides what fails the build. A vulnerability that the code calls, in a
// module, fails it: bump the module. One in the standard library is printed
// as a warning naming the Go release that fixes it, because the toolchain is
// the machine's: this project's machines run the Go they are given, and the
// container image builds with the newest Go of the same minor release.
//
//	govulncheck -format json ./... | go run ./scripts/vulnreport
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// message is one object of govulncheck's stream; only findings matter here.
type message struct {
	Finding *finding `json:"finding"`
}

type finding struct {
	OSV          string  `json:"osv"`
	FixedVersion string  `json:"fixed_version"`
	Trace        []frame `json:"trace"`
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
}

func main() {
	failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnreport:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// report prints the called vulnerabilities in r and reports whether any is
// in a module rather than the standard library.
func report(r io.Reader, w io.Writer) (bool, error) {
	type key struct{ osv, module string }
	called := map[key]finding{}
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("reading govulncheck's output: %w", err)
		}
		// A finding whose innermost frame names a function is one the code
		// reaches; module- and package-level findings are only imported.
		if m.Finding == nil || len(m.Finding.Trace) == 0 || m.Finding.Trace[0].Function == "" {
			continue
		}
		called[key{m.Finding.OSV, m.Finding.Trace[0].Module}] = *m.Finding
	}
	keys := make([]key, 0, len(called))
	for k := range called {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].module != keys[j].module {
			return keys[i].module < keys[j].module
		}
		return keys[i].osv < keys[j].osv
	})
	failed := false
	for _, k := range keys {
		f := called[k]
		top := f.Trace[0]
		kind := "FAIL"
		if k.module == "stdlib" {
			kind = "WARN (standard library of this machine's Go)"
		} else {
			failed = true
		}
		fmt.Fprintf(w, "%s %s: %s@%s, %s.%s; fixed in %s\n", kind, k.osv, top.Module, top.Version, top.Package, top.Function, f.FixedVersion)
	}
	if len(keys) == 0 {
		fmt.Fprintln(w, "no vulnerability is reached by the code")
	}
	return failed, nil
}
