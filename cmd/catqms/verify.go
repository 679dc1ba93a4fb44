package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/catqms/catqms/queue/record"
)

// The exit codes of catqms verify.
const (
	exitViolation = 1 // the record breaks a rule
	exitNoRecord  = 2 // the record could not be fetched or read
)

// exitError ends the program with code; main prints its words, if any.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process's exit code for err: 1 unless it says otherwise.
func exitCode(err error) int {
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	return 1
}

// verifyPage is how many entries catqms verify asks for at once: the most
// the API gives.
const verifyPage = 1000

// verifyUsage is catqms verify --help.
const verifyUsage = `usage: catqms verify [flags] URL

Fetches the public record of the catqms service at URL (GET /api/v1/history,
page by page, oldest first) and replays it here: the hash chain, that every
call went to the earliest waiting ticket, that no ticket was served twice or
called past the counters, and that every removal has its cause. The
service's own verdict is not used.

Exit status: 0 the record is sound; 1 it breaks a rule (the first violation
is printed with its entries); 2 it could not be fetched or read.

Flags:
`

// verify is catqms verify: it never starts a service.
func verify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("catqms verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", 10*time.Second, "`time` each page may take")
	save := fs.String("save", "", "`file` to keep the fetched record in (JSON), to compare with later")
	against := fs.String("against", "", "`file` of a record kept earlier (--save): every entry both hold must be the same")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, verifyUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		}
		return &exitError{exitNoRecord, fmt.Errorf("verify: %w (catqms verify --help)", err)}
	}
	if fs.NArg() != 1 {
		return &exitError{exitNoRecord, errors.New("verify: give the service's URL, e.g. catqms verify http://localhost:8080")}
	}
	base, err := serviceURL(fs.Arg(0))
	if err != nil {
		return &exitError{exitNoRecord, err}
	}
	var kept []record.Entry
	if *against != "" {
		if kept, err = readRecord(*against); err != nil {
			return &exitError{exitNoRecord, err}
		}
	}

	client := &http.Client{Timeout: *timeout}
	v := record.NewVerifier()
	var all []record.Entry // only with --save or --against
	keep := *save != "" || *against != ""
	pages := 0
	for after := int64(0); ; {
		page, err := fetchPage(ctx, client, base, after)
		if err != nil {
			return &exitError{exitNoRecord, err}
		}
		pages++
		for _, e := range page {
			if e.Version <= after {
				return &exitError{exitNoRecord, fmt.Errorf("verify: the service answered version %d after %d: it does not page as the API says", e.Version, after)}
			}
			after = e.Version
			v.Add(e)
			if keep {
				all = append(all, e)
			}
		}
		if len(page) < verifyPage {
			break
		}
	}
	d := v.Verdict()
	fmt.Fprintf(stdout, "%s: %d entries in %d pages, verified here\n", base, d.Entries, pages)
	fmt.Fprintln(stdout, d.Summary)
	if d.OK && d.Entries > 0 {
		fmt.Fprintf(stdout, "keep this to prove later that the record was not rewritten: version %d hash %s\n", d.LastVersion, d.LastHash)
	}
	if *save != "" {
		if err := writeRecord(*save, all); err != nil {
			return &exitError{exitNoRecord, err}
		}
	}
	if d.Violation != nil {
		fmt.Fprintln(stdout, "the entries that show it, the offending one last:")
		enc := json.NewEncoder(stdout)
		for _, e := range d.Violation.Entries {
			_ = enc.Encode(e)
		}
		return &exitError{code: exitViolation}
	}
	if *against != "" {
		if at := record.Rewritten(kept, all); at != 0 {
			fmt.Fprintf(stdout, "VIOLATION (rewritten) version %d: the service's entry is not the one kept in %s\n", at, *against)
			return &exitError{code: exitViolation}
		}
		fmt.Fprintf(stdout, "every entry kept in %s is the same in the service's record\n", *against)
	}
	return nil
}

// serviceURL checks the service's address: http or https, a host, no query.
func serviceURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("verify: %q is not a service URL like http://localhost:8080", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// fetchPage is GET /api/v1/history?after=…&limit=1000.
func fetchPage(ctx context.Context, client *http.Client, base string, after int64) ([]record.Entry, error) {
	target := base + "/api/v1/history?after=" + strconv.FormatInt(after, 10) + "&limit=" + strconv.Itoa(verifyPage)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("verify: reading %s: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		_ = json.Unmarshal(body, &e)
		return nil, fmt.Errorf("verify: GET %s answered %s: %s", target, resp.Status, e.Message)
	}
	var page struct {
		Entries []record.Entry `json:"entries"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("verify: GET %s: not a page of the record: %w", target, err)
	}
	return page.Entries, nil
}

// readRecord reads a record kept with --save.
func readRecord(path string) ([]record.Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	var entries []record.Entry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("verify: %s is not a record kept with --save: %w", path, err)
	}
	return entries, nil
}

// writeRecord keeps entries in path, whole or not at all.
func writeRecord(path string, entries []record.Entry) error {
	data, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}
