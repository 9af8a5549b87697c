package scimapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scim"
	"github.com/scimgate/scimgate/scim/schema"
)

// Bulk message URNs (RFC 7644 section 3.7).
const (
	BulkRequestSchema  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	BulkResponseSchema = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
)

type bulkOp struct {
	Method  string
	BulkID  string
	Version string
	Path    string
	Data    any
}

type bulkResult struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId,omitempty"`
	Version  string          `json:"version,omitempty"`
	Location string          `json:"location,omitempty"`
	Status   string          `json:"status"`
	Response *scim.ErrorBody `json:"response,omitempty"`

	id string // the resource's id, for bulkId references
}

// bulk runs a /Bulk request. Operations run in order, each in its own
// transaction (RFC 7644 does not make a bulk request atomic); an operation
// that references a bulkId created later waits until it exists, so
// forward references resolve and only true cycles fail (409). Responses
// come back in request order. failOnErrors stops processing after that
// many errors; the unprocessed operations are left out of the response.
func (s *Server) bulk(w http.ResponseWriter, r *request) error {
	body, err := readBody(r.Request, s.opts.BulkMaxPayload)
	if err != nil {
		if e := scim.AsError(err); e.Code == scim.CodeTooLarge {
			return scim.Errorf(scim.CodeTooLarge, "bulk request exceeds maxPayloadSize of %d bytes", s.opts.BulkMaxPayload)
		}
		return err
	}
	ops, failOnErrors, err := parseBulk(body, s.opts.BulkMaxOperations)
	if err != nil {
		return err
	}
	results := make([]*bulkResult, len(ops))
	ids := map[string]string{}   // bulkId -> created resource id
	failed := map[string]bool{}  // bulkIds whose POST failed
	defined := map[string]bool{} // bulkIds of POST operations
	for _, op := range ops {
		if op.BulkID != "" && op.Method == http.MethodPost {
			defined[op.BulkID] = true
		}
	}
	pending := make([]int, len(ops))
	refsOf := make([][]string, len(ops)) // read once: a pass only looks them up
	for i := range pending {
		pending[i] = i
		refsOf[i] = bulkRefs(ops[i])
	}
	errCount := 0
	fail := func(i int, err error) {
		e := scim.AsError(err)
		body := e.Body()
		results[i] = &bulkResult{Method: ops[i].Method, BulkID: ops[i].BulkID, Status: body.Status, Response: &body}
		// RFC 7644 section 3.7: every response but a failed POST has a
		// location, when the path names a resource at all.
		if path := substitute(ops[i], ids).Path; ops[i].Method != http.MethodPost && !strings.Contains(path, bulkPrefix) {
			results[i].Location = r.caller.Base + "/" + strings.TrimLeft(path, "/")
		}
		if ops[i].BulkID != "" {
			failed[ops[i].BulkID] = true
		}
		errCount++
	}
	for progress := true; progress && len(pending) > 0; {
		progress = false
		var wait []int
		for _, i := range pending {
			if failOnErrors > 0 && errCount >= failOnErrors {
				wait = nil
				break
			}
			op := ops[i]
			var blocked bool
			var refErr error
			for _, ref := range refsOf[i] {
				switch {
				case !defined[ref]:
					refErr = scim.Errorf(scim.CodeInvalidValue, "bulkId %q is not defined by any POST in this request", ref)
				case failed[ref]:
					refErr = scim.Errorf(scim.CodeConflict, "bulkId %q refers to an operation that failed", ref)
				case ids[ref] == "":
					blocked = true
				}
			}
			switch {
			case refErr != nil:
				fail(i, refErr)
				progress = true
			case blocked:
				wait = append(wait, i)
			default:
				res, err := s.bulkOne(r, substitute(op, ids))
				if err != nil {
					fail(i, err)
				} else {
					results[i] = res
					if op.BulkID != "" && op.Method == http.MethodPost {
						ids[op.BulkID] = res.id
					}
				}
				progress = true
			}
		}
		pending = wait
	}
	for _, i := range pending {
		if failOnErrors > 0 && errCount >= failOnErrors {
			break
		}
		fail(i, scim.Errorf(scim.CodeConflict, "bulkId references form a cycle that cannot be resolved"))
	}
	out := make([]*bulkResult, 0, len(results))
	for _, res := range results {
		if res != nil {
			out = append(out, res)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{BulkResponseSchema}, "Operations": out})
}

func parseBulk(body map[string]any, maxOps int) ([]bulkOp, int, error) {
	if err := scim.CaseDuplicate(body, "the bulk request"); err != nil {
		return nil, 0, err
	}
	var rawOps any
	failOnErrors := 0
	schemaOK := false
	for k, v := range body {
		switch strings.ToLower(k) {
		case "schemas":
			list, _ := v.([]any)
			for _, s := range list {
				if u, _ := s.(string); strings.EqualFold(u, BulkRequestSchema) {
					schemaOK = true
				}
			}
		case "failonerrors":
			n, ok := v.(json.Number)
			i, err := n.Int64()
			if !ok || err != nil || i < 0 {
				return nil, 0, scim.Errorf(scim.CodeInvalidValue, "failOnErrors must be a non-negative integer")
			}
			failOnErrors = int(min(i, 1<<30))
		case "operations":
			rawOps = v
		}
	}
	if !schemaOK {
		return nil, 0, scim.Errorf(scim.CodeInvalidValue, "schemas must include %s", BulkRequestSchema)
	}
	list, ok := rawOps.([]any)
	if !ok {
		return nil, 0, scim.Errorf(scim.CodeInvalidValue, "Operations must be an array")
	}
	if len(list) > maxOps {
		return nil, 0, scim.Errorf(scim.CodeTooLarge, "bulk request has %d operations; maxOperations is %d", len(list), maxOps)
	}
	ops := make([]bulkOp, 0, len(list))
	seen := map[string]bool{}
	for i, raw := range list {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, 0, scim.Errorf(scim.CodeInvalidSyntax, "Operations[%d] must be an object", i)
		}
		if err := scim.CaseDuplicate(m, fmt.Sprintf("Operations[%d]", i)); err != nil {
			return nil, 0, err
		}
		var op bulkOp
		for k, v := range m {
			s, _ := v.(string)
			switch strings.ToLower(k) {
			case "method":
				op.Method = strings.ToUpper(s)
			case "bulkid":
				op.BulkID = s
			case "version":
				op.Version = s
			case "path":
				op.Path = s
			case "data":
				op.Data = v
			}
		}
		switch op.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			if op.Data == nil {
				return nil, 0, scim.Errorf(scim.CodeInvalidValue, "Operations[%d]: %s needs data", i, op.Method)
			}
		case http.MethodDelete:
		default:
			return nil, 0, scim.Errorf(scim.CodeInvalidValue, "Operations[%d].method must be POST, PUT, PATCH or DELETE", i)
		}
		if op.Path == "" {
			return nil, 0, scim.Errorf(scim.CodeInvalidValue, "Operations[%d] needs a path", i)
		}
		if op.Method == http.MethodPost && op.BulkID == "" {
			return nil, 0, scim.Errorf(scim.CodeInvalidValue, "Operations[%d]: POST needs a bulkId", i)
		}
		// Unique whatever the method: "bulkId:x" must name one
		// operation, not whichever with that bulkId ran last.
		if op.BulkID != "" {
			if seen[op.BulkID] {
				return nil, 0, scim.Errorf(scim.CodeInvalidValue, "Operations[%d]: bulkId %q is used twice", i, op.BulkID)
			}
			seen[op.BulkID] = true
		}
		ops = append(ops, op)
	}
	return ops, failOnErrors, nil
}

// bulkOne runs one operation with its bulkId references already replaced.
func (s *Server) bulkOne(r *request, op bulkOp) (*bulkResult, error) {
	seg := strings.Split(strings.Trim(op.Path, "/"), "/")
	var rt *schema.ResourceType
	switch seg[0] {
	case "Users":
		rt = schema.UserType
	case "Groups":
		rt = schema.GroupType
	default:
		return nil, scim.Errorf(scim.CodeInvalidPath, "bulk path %q must start with /Users or /Groups", op.Path)
	}
	wantID := op.Method != http.MethodPost
	if wantID != (len(seg) == 2) || len(seg) > 2 {
		return nil, scim.Errorf(scim.CodeInvalidPath, "bulk %s path %q is not valid", op.Method, op.Path)
	}
	data, _ := op.Data.(map[string]any)
	if op.Data != nil && data == nil {
		return nil, scim.Errorf(scim.CodeInvalidSyntax, "bulk data must be an object")
	}
	ctx, c := r.Context(), r.caller
	pre := directory.Precondition{IfMatch: op.Version}
	res := &bulkResult{Method: op.Method, BulkID: op.BulkID}
	var out *directory.Resource
	var err error
	switch op.Method {
	case http.MethodPost:
		out, err = s.dir.Create(ctx, c, rt, data, nil)
		res.Status = "201"
	case http.MethodPut:
		out, err = s.dir.Replace(ctx, c, rt, seg[1], data, pre, nil)
		res.Status = "200"
	case http.MethodPatch:
		var ops []scim.PatchOp
		if ops, err = scim.ParsePatch(rt, data); err == nil {
			out, err = s.dir.Patch(ctx, c, rt, seg[1], ops, pre, nil, false)
		}
		res.Status = "200"
	case http.MethodDelete:
		err = s.dir.Delete(ctx, c, rt, seg[1], pre)
		res.Status = "204"
		res.Location = c.Base + rt.Endpoint + "/" + seg[1]
	}
	if err != nil {
		return nil, err
	}
	if out != nil {
		res.Version = out.ETag()
		res.Location = c.Base + rt.Endpoint + "/" + out.ID
		res.id = out.ID
	}
	return res, nil
}

const bulkPrefix = "bulkId:"

// bulkRefs lists the bulkIds an operation references in its path or data.
func bulkRefs(op bulkOp) []string {
	var refs []string
	collect := func(s string) string {
		return rewriteRefs(s, func(ref string) (string, bool) {
			if ref != "" {
				refs = append(refs, ref)
			}
			return "", false
		})
	}
	collect(op.Path)
	walkStrings(op.Data, collect)
	return refs
}

// substitute returns op with every "bulkId:x" reference replaced by the id
// created for x. Each reference is read whole before it is looked up, so
// that "bulkId:u10" never matches the id of "u1".
func substitute(op bulkOp, ids map[string]string) bulkOp {
	repl := func(s string) string {
		return rewriteRefs(s, func(ref string) (string, bool) {
			id, ok := ids[ref]
			return id, ok
		})
	}
	op.Path = repl(op.Path)
	op.Data = walkStrings(op.Data, repl)
	return op
}

// bulkRefEnd holds the characters that end a bulkId reference: it may sit
// inside a filter (members[value eq "bulkId:x"]) or a path (/Users/bulkId:x).
const bulkRefEnd = "\"'/] "

// rewriteRefs calls f with every complete bulkId reference in s, in order,
// and returns s with each reference for which f answers true replaced by
// the string f returns. bulkRefs and substitute share it so that both see
// the same references.
func rewriteRefs(s string, f func(ref string) (string, bool)) string {
	if !strings.Contains(s, bulkPrefix) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, bulkPrefix)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+len(bulkPrefix):]
		end := strings.IndexAny(rest, bulkRefEnd)
		if end < 0 {
			end = len(rest)
		}
		if repl, ok := f(rest[:end]); ok && end > 0 {
			b.WriteString(repl)
		} else {
			b.WriteString(s[i : i+len(bulkPrefix)+end])
		}
		s = rest[end:]
	}
}

// walkStrings returns a copy of v with every string value passed through f.
func walkStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = walkStrings(e, f)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = walkStrings(e, f)
		}
		return l
	}
	return v
}
