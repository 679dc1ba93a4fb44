package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/catqms/catqms/internal/testenv"
)

// The README's examples are run, not just read: TestREADMEVisit and
// TestREADMEAdmin paste its shell blocks into bash against the built
// binary and compare what each command prints with the "#   " lines under
// it, so the README cannot drift from the service.

// readmeHost is the address the README's examples talk to.
const readmeHost = "http://127.0.0.1:8080"

// readmeStart is how the admin example starts the service; the test runs
// the binary it built instead, on a free port.
const readmeStart = "go build -o catqms ./cmd/catqms && ./catqms"

// readmeSection returns the ```sh blocks of the README section under the
// "## " heading title.
func readmeSection(t *testing.T, title string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	in, inBlock := false, false
	var cur []string
	for line := range strings.SplitSeq(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			in = strings.TrimPrefix(line, "## ") == title
		case in && !inBlock && line == "```sh":
			inBlock, cur = true, nil
		case in && inBlock && line == "```":
			inBlock = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case inBlock:
			cur = append(cur, line)
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("README.md has no sh block under ## %s", title)
	}
	return blocks
}

// shellStep is one command of a README block and what the README says it
// prints.
type shellStep struct {
	line   int    // 1-based, in the joined blocks
	cmd    string // the command as written
	expect []string
}

// parseSteps splits a block into commands and their "#   " expectations.
// Comment lines that do not start with "#   " are prose.
func parseSteps(script string) []shellStep {
	var steps []shellStep
	for i, line := range strings.Split(script, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
		case strings.HasPrefix(line, "#   "):
			if len(steps) > 0 {
				steps[len(steps)-1].expect = append(steps[len(steps)-1].expect, strings.TrimSpace(line[1:]))
			}
		case strings.HasPrefix(trimmed, "#"):
		default:
			steps = append(steps, shellStep{line: i + 1, cmd: line})
		}
	}
	return steps
}

// runSteps runs the steps in one bash, each between markers, and returns
// each step's output and exit status. Whatever the script left running is
// killed when it ends.
func runSteps(t *testing.T, steps []shellStep, env []string) (outputs []string, codes []int) {
	t.Helper()
	var script strings.Builder
	script.WriteString("trap 'kill $(jobs -p) 2>/dev/null' EXIT\n")
	for i, s := range steps {
		// The marker goes on lines of its own: a command may end in a comment.
		fmt.Fprintf(&script, "printf '\\n@@begin %d\\n'\n%s\nprintf '\\n@@end %d %%d\\n' $?\n", i, s.cmd, i)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = t.TempDir()
	// A service the README starts keeps its line in the state folder
	// (--data-dir auto): a folder of this test's own, never the home's,
	// where an earlier run's line would change every answer.
	cmd.Env = append(os.Environ(), append(env, "XDG_STATE_HOME="+t.TempDir())...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s\n%s", err, out, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("bash wrote to stderr:\n%s", stderr.String())
	}
	outputs, codes = make([]string, len(steps)), make([]int, len(steps))
	for i := range codes {
		codes[i] = -1
	}
	cur := -1
	var buf []string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(string(out), "\r", "")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "@@begin "); ok {
			cur, _ = strconv.Atoi(n)
			buf = nil
			continue
		}
		if rest, ok := strings.CutPrefix(line, "@@end "); ok && cur >= 0 {
			var n, code int
			fmt.Sscanf(rest, "%d %d", &n, &code)
			outputs[n] = strings.TrimSpace(strings.Join(buf, "\n"))
			codes[n] = code
			cur = -1
			continue
		}
		buf = append(buf, line)
	}
	return outputs, codes
}

var (
	statusLine = regexp.MustCompile(`^HTTP/\S+ \d{3}`)
	headerLine = regexp.MustCompile(`^[A-Za-z][A-Za-z-]*: `)
	anyTime    = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)
)

// pattern turns an expected line into a regexp: "…" stands for anything,
// and a time for any time written the way the API writes times.
func pattern(expect string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i, part := range strings.Split(expect, "…") {
		if i > 0 {
			b.WriteString(".*?")
		}
		times := anyTime.FindAllStringIndex(part, -1)
		last := 0
		for _, m := range times {
			b.WriteString(regexp.QuoteMeta(part[last:m[0]]))
			b.WriteString(anyTime.String())
			last = m[1]
		}
		b.WriteString(regexp.QuoteMeta(part[last:]))
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// checkSteps compares each step's output with its expectations: a status
// line with the output's first line, a header with the output's header of
// that name, anything else with the body (the output's last line).
func checkSteps(t *testing.T, steps []shellStep, outputs []string, codes []int) {
	t.Helper()
	checked := 0
	for i, s := range steps {
		if codes[i] != 0 {
			t.Errorf("README example, line %d of its section exited %d: %s\n%s", s.line, codes[i], s.cmd, outputs[i])
			continue
		}
		lines := strings.Split(outputs[i], "\n")
		body := lines[len(lines)-1]
		for _, want := range s.expect {
			checked++
			switch {
			case statusLine.MatchString(want):
				if !pattern(want).MatchString(strings.TrimSpace(lines[0])) {
					t.Errorf("README example, line %d of its section: %s\n  status %q, README says %q", s.line, s.cmd, lines[0], want)
				}
			case headerLine.MatchString(want):
				name, _, _ := strings.Cut(want, ":")
				found := ""
				for _, l := range lines {
					if n, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(n, name) {
						found = strings.TrimSpace(l)
					}
				}
				if !pattern(want).MatchString(found) {
					t.Errorf("README example, line %d of its section: %s\n  header %q, README says %q", s.line, s.cmd, found, want)
				}
			default:
				if !pattern(want).MatchString(body) {
					t.Errorf("README example, line %d of its section: %s\n  prints %s\n  README says %s", s.line, s.cmd, body, want)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d README lines were checked; the examples lost their expected output", checked)
	}
}

// TestREADMEVisit runs "A visit, with curl" against a fresh service.
func TestREADMEVisit(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "sed"} {
		if testenv.Program(t, tool, "apt-get install "+tool) == "" {
			return
		}
	}
	svc := startService(t)
	script := strings.Join(readmeSection(t, "A visit, with curl"), "\n")
	if !strings.Contains(script, readmeHost) {
		t.Fatalf("the visit no longer talks to %s; update this test", readmeHost)
	}
	steps := parseSteps(strings.ReplaceAll(script, readmeHost, svc.URL))
	outputs, codes := runSteps(t, steps, nil)
	checkSteps(t, steps, outputs, codes)

	// The README's metrics table lists the service's own families, all of them.
	resp, err := http.Get(svc.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var served []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "# TYPE catqms_"); ok {
			served = append(served, "catqms_"+strings.Fields(name)[0])
		}
	}
	data, _ := os.ReadFile(filepath.Join("..", "..", "README.md"))
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(catqms_[a-z_]+)").FindAllStringSubmatch(string(data), -1) {
		listed = append(listed, m[1])
	}
	slices.Sort(served)
	slices.Sort(listed)
	if !slices.Equal(served, listed) {
		t.Errorf("README's metrics table lists %v; /metrics serves %v", listed, served)
	}
}

// TestREADMEAdmin runs the admin example as pasted: it starts the service
// itself (the binary this package built, on a free port) and stops it.
func TestREADMEAdmin(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "sed", "openssl"} {
		if testenv.Program(t, tool, "apt-get install "+tool) == "" {
			return
		}
	}
	script := strings.Join(readmeSection(t, "The admin API"), "\n")
	if !strings.Contains(script, readmeStart) || !strings.Contains(script, readmeHost) {
		t.Fatalf("the admin example no longer starts the service with %q on %s; update this test", readmeStart, readmeHost)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	script = strings.ReplaceAll(script, readmeStart, `"$CATQMS_BINARY" --addr `+addr)
	script = strings.ReplaceAll(script, readmeHost, "http://"+addr)
	steps := parseSteps(script)
	outputs, codes := runSteps(t, steps, []string{"CATQMS_BINARY=" + binary})
	checkSteps(t, steps, outputs, codes)
}
