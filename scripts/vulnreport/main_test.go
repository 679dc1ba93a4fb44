package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	stream := `{"config": {"scanner_name": "govulncheck"}}
{"finding": {"osv": "GO-1", "fixed_version": "v1.26.10", "trace": [{"module": "stdlib", "version": "v1.26.8", "package": "net/http", "function": "Serve"}]}}
{"finding": {"osv": "GO-2", "fixed_version": "v0.60.0", "trace": [{"module": "golang.org/x/net", "version": "v0.59.0", "package": "golang.org/x/net/html"}]}}
`
	var out strings.Builder
	failed, err := report(strings.NewReader(stream), &out)
	if err != nil || failed {
		t.Fatalf("stdlib call and an imported-only module: failed=%v err=%v\n%s", failed, err, out.String())
	}
	if !strings.Contains(out.String(), "WARN (standard library of this machine's Go) GO-1") || strings.Contains(out.String(), "GO-2") {
		t.Fatalf("output:\n%s", out.String())
	}
	stream += `{"finding": {"osv": "GO-3", "fixed_version": "v0.59.1", "trace": [{"module": "github.com/quic-go/quic-go", "version": "v0.59.0", "package": "github.com/quic-go/quic-go", "function": "Dial"}]}}`
	out.Reset()
	failed, err = report(strings.NewReader(stream), &out)
	if err != nil || !failed || !strings.Contains(out.String(), "FAIL GO-3") {
		t.Fatalf("a called module vulnerability: failed=%v err=%v\n%s", failed, err, out.String())
	}
	if _, err := report(strings.NewReader("{not json"), &out); err == nil {
		t.Fatal("garbage accepted")
	}
}
