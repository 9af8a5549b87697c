package scimapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A golden file is a sequence of steps, each an HTTP request and the
// response it must get:
//
//	# Comments and blank lines may precede a step.
//	### create a user
//	POST /scim/v2/Users?attributes=userName
//	Authorization: acme
//	Content-Type: application/scim+json
//
//	{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen"}
//	--- 201
//	Content-Type: application/scim+json
//	ETag: W/"1"
//	Location: https://scim.example.test/scim/v2/Users/00000000-0000-4000-8000-000000000001
//
//	{ ...the expected body, JSON indented by two spaces... }
//
// The request line is a method and a target; the query may be written
// readably (spaces, quotes) and is percent-encoded before sending, so a
// literal '&', '=', '%' or '#' in a value must be written %26, %3D, %25,
// %23. Authorization names the tenant whose token is sent (acme, globex),
// "none" for no header, or anything else to send literally, with "{acme}"
// replaced by acme's token secret ("bearer {acme}"). The request
// body is sent byte for byte, so it may be malformed on purpose.
//
// The response section lists the status and exactly the checked headers
// (checkedHeaders) that the response carries, then its body. Bodies are
// compared as JSON re-indented by two spaces, key order included; a body
// that is not JSON is compared as text. A response body ends at the next
// line that starts with '#'.

// checkedHeaders are the response headers a golden file records, in the
// order it lists them.
var checkedHeaders = []string{"Content-Type", "ETag", "Location", "WWW-Authenticate", "Allow"}

type goldenFile struct {
	steps   []*step
	trailer []string // comment lines after the last step
}

type step struct {
	pre     []string // comment and blank lines before the title
	title   string
	line    int      // line number of the title, for messages
	reqText []string // the request lines as written, kept by -update
	method  string
	target  string
	auth    string
	headers [][2]string
	body    string
	want    response
}

// response is what a step checks: Header holds "Name: value" lines in
// checkedHeaders order.
type response struct {
	Status int
	Header []string
	Body   string
}

func parseGolden(src string) (*goldenFile, error) {
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	gf := &goldenFile{}
	var pre []string
	i := 0
	errorf := func(format string, args ...any) error {
		return fmt.Errorf("line %d: %s", i+1, fmt.Sprintf(format, args...))
	}
	for i < len(lines) {
		l := lines[i]
		title, isTitle := strings.CutPrefix(l, "### ")
		if !isTitle {
			if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
				return nil, errorf("expected a comment or a '### title' line, got %q", l)
			}
			pre = append(pre, l)
			i++
			continue
		}
		st := &step{pre: trimLeadingBlank(pre), title: strings.TrimSpace(title), line: i + 1}
		pre = nil
		i++
		// Request: request line, headers, blank line, body, up to "--- ".
		start := i
		for i < len(lines) && !strings.HasPrefix(lines[i], "--- ") {
			if strings.HasPrefix(lines[i], "### ") {
				return nil, errorf("step %q has no '--- status' line", st.title)
			}
			i++
		}
		if i == len(lines) {
			return nil, errorf("step %q has no '--- status' line", st.title)
		}
		st.reqText = trimBlank(lines[start:i])
		if err := st.parseRequest(); err != nil {
			return nil, fmt.Errorf("line %d: step %q: %v", st.line, st.title, err)
		}
		// Response: status line, headers, blank line, body up to a '#' line.
		code, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(lines[i], "--- ")))
		if err != nil {
			return nil, errorf("bad status line %q", lines[i])
		}
		st.want.Status = code
		i++
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(lines[i], "#") {
			name, value, ok := strings.Cut(lines[i], ":")
			if !ok {
				return nil, errorf("bad response header %q", lines[i])
			}
			st.want.Header = append(st.want.Header, name+": "+strings.TrimSpace(value))
			i++
		}
		start = i
		for i < len(lines) && !strings.HasPrefix(lines[i], "#") {
			i++
		}
		st.want.Body = strings.Join(trimBlank(lines[start:i]), "\n")
		gf.steps = append(gf.steps, st)
	}
	gf.trailer = trimBlank(pre)
	if len(gf.steps) == 0 {
		return nil, fmt.Errorf("no steps")
	}
	return gf, nil
}

func (st *step) parseRequest() error {
	if len(st.reqText) == 0 {
		return fmt.Errorf("missing request line")
	}
	method, target, ok := strings.Cut(st.reqText[0], " ")
	if !ok || method == "" || !strings.HasPrefix(strings.TrimSpace(target), "/") {
		return fmt.Errorf("bad request line %q", st.reqText[0])
	}
	st.method, st.target = method, strings.TrimSpace(target)
	i := 1
	for ; i < len(st.reqText) && strings.TrimSpace(st.reqText[i]) != ""; i++ {
		name, value, ok := strings.Cut(st.reqText[i], ":")
		if !ok {
			return fmt.Errorf("bad request header %q", st.reqText[i])
		}
		value = strings.TrimSpace(value)
		if strings.EqualFold(name, "Authorization") {
			st.auth = value
			continue
		}
		st.headers = append(st.headers, [2]string{name, value})
	}
	if st.auth == "" {
		return fmt.Errorf("missing Authorization pseudo-header (a tenant, none, or a literal value)")
	}
	if i < len(st.reqText) {
		st.body = strings.Join(st.reqText[i+1:], "\n")
	}
	return nil
}

// format renders the file with every step's response section replaced by
// got (by step index); comments, titles and requests are kept.
func (gf *goldenFile) format(got []response) []byte {
	var b bytes.Buffer
	for n, st := range gf.steps {
		if n > 0 {
			b.WriteByte('\n')
		}
		for _, l := range st.pre {
			b.WriteString(l + "\n")
		}
		b.WriteString("### " + st.title + "\n")
		for _, l := range st.reqText {
			b.WriteString(l + "\n")
		}
		b.WriteString(got[n].String())
	}
	if len(gf.trailer) > 0 {
		b.WriteByte('\n')
		for _, l := range gf.trailer {
			b.WriteString(l + "\n")
		}
	}
	return b.Bytes()
}

// String renders a response section as a golden file holds it.
func (r response) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %d\n", r.Status)
	for _, h := range r.Header {
		b.WriteString(h + "\n")
	}
	if r.Body != "" {
		b.WriteString("\n" + r.Body + "\n")
	}
	return b.String()
}

// canonicalBody re-indents a JSON body by two spaces, keeping key order;
// other bodies are trimmed text.
func canonicalBody(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var out bytes.Buffer
	if json.Valid(body) && json.Indent(&out, body, "", "  ") == nil {
		return out.String()
	}
	return string(body)
}

func trimBlank(lines []string) []string {
	lines = trimLeadingBlank(lines)
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func trimLeadingBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	return lines
}
