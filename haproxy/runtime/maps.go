package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// defaultPayloadLimit bounds one request carrying an "add map" payload. A
// non-interactive request must fit HAProxy's buffer (tune.bufsize, 16384 by
// default): HAProxy 2.6.12 answered requests of up to 16410 bytes (a 27-byte
// "set severity-output" command, then the rest) and, beyond, reset the
// connection, dropped the second command or waited for more. Half the
// default leaves room for smaller buffers and costs little: 100,000 entries
// of ~37 bytes go in ~460 requests.
const defaultPayloadLimit = 8192

// Map is one line of "show map":
//
//	0 (/etc/haproxy/groups.map) pattern loaded from file '/etc/haproxy/groups.map' used by map at file '/etc/haproxy/haproxy.cfg' line 12. curr_ver=0 next_ver=0 entry_cnt=2
type Map struct {
	ID      int    // HAProxy's map id; "#<ID>" names the map in commands
	File    string // the file the map was loaded from, the usual name in commands
	CurrVer uint32 // version lookups see
	NextVer uint32 // last version "prepare map" allocated
	// Entries is entry_cnt: the entries of every version, including ones
	// being added to a prepared version. HAProxy 2.6 miscounts after it
	// rejects a payload line, so it is a hint.
	Entries int
}

// Name returns how commands designate m: its file, or "#<ID>".
func (m Map) Name() string {
	if m.File != "" {
		return m.File
	}
	return "#" + strconv.Itoa(m.ID)
}

// Entry is a map entry. HAProxy's map files and payloads split a line at the
// first blank: the key has no whitespace, the value is the rest of the line
// and may hold spaces (not leading ones, which HAProxy drops).
type Entry struct {
	Key, Value string
}

// Maps lists the maps HAProxy has loaded ("show map"). A file several
// converters use (map, map_beg, ...) is one map.
func (c *Client) Maps(ctx context.Context) ([]Map, error) {
	out, err := c.exec(ctx, "show map", "")
	if err != nil {
		return nil, err
	}
	return parseMaps(out), nil
}

// MapEntries returns the entries lookups currently see in the map name (a
// file or "#<id>"), in HAProxy's order. An unknown map is ErrUnknownMap.
func (c *Client) MapEntries(ctx context.Context, name string) ([]Entry, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	out, err := c.exec(ctx, "show map "+escape(name), "")
	if err != nil {
		return nil, err
	}
	return parseEntries(out), nil
}

// SetEntry sets key to value in the map name, adding the entry when the map
// has no such key (HAProxy's "set map" fails on a missing key, so SetEntry
// then runs "add map"). A key present several times gets value everywhere.
//
// value must not be empty: "set map" takes no empty argument (HAProxy 2.6
// has no quoting); Replace can store empty values.
func (c *Client) SetEntry(ctx context.Context, name, key, value string) error {
	if err := validName(name); err != nil {
		return err
	}
	if err := validEntry(Entry{key, value}); err != nil {
		return err
	}
	if value == "" {
		return fmt.Errorf("haproxy set map: %w: empty value for key %q (set map cannot store one; Replace can)", ErrInvalid, key)
	}
	args := escape(name) + " " + escape(key) + " " + escape(value)
	if n := len(severityPrefix) + len("set map ") + len(args) + 1; n > c.payloadLimit {
		return fmt.Errorf("haproxy set map: %w: entry for key %q is %d bytes, limit %d", ErrInvalid, key, n, c.payloadLimit)
	}

	c.mapMu.Lock()
	defer c.mapMu.Unlock()
	_, err := c.exec(ctx, "set map "+args, "")
	if errors.Is(err, ErrNotFound) {
		_, err = c.exec(ctx, "add map "+args, "")
	}
	return err
}

// DelEntry deletes every entry with key from the map name. A missing key is
// not an error.
func (c *Client) DelEntry(ctx context.Context, name, key string) error {
	if err := validName(name); err != nil {
		return err
	}
	if err := validKey(key); err != nil {
		return err
	}
	c.mapMu.Lock()
	defer c.mapMu.Unlock()
	_, err := c.exec(ctx, "del map "+escape(name)+" "+escape(key), "")
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Replace makes entries the whole content of the map name, atomically:
// "prepare map" allocates a new version, "add map @<ver>" fills it in
// batches of payload lines, "commit map @<ver>" switches lookups to it in one
// step and drops the old entries. Lookups see the old content until the
// commit and the new one after; when any step fails the live map is left as
// it was and the prepared version is cleared (unless the commit's answer
// was lost: then the map holds the old content or the new).
//
// Duplicate keys are sent as given; HAProxy keeps them all, so avoid them.
//
// Measured with HAProxy 2.6.12 on a unix socket (TestReplaceLarge, lookups
// running meanwhile, on a shared 2-CPU machine): 100,000 entries of ~37 bytes
// (~460 requests of 8 KiB) in 0.17-0.19s, 0.9s under the race detector.
//
// Map writes through one Client are serialized; a SetEntry or DelEntry made
// by someone else between prepare and commit is lost at the commit. Two
// Replace calls from different clients on one map race: the later commit
// wins, or fails with "Version number out of range" if an older version is
// committed after a newer one.
func (c *Client) Replace(ctx context.Context, name string, entries []Entry) error {
	if err := validName(name); err != nil {
		return err
	}
	for _, e := range entries {
		if err := validEntry(e); err != nil {
			return err
		}
	}

	c.mapMu.Lock()
	defer c.mapMu.Unlock()
	out, err := c.exec(ctx, "prepare map "+escape(name), "")
	if err != nil {
		return err
	}
	ver, err := parseVersion(out)
	if err != nil {
		return fmt.Errorf("haproxy prepare map %s: %w", name, err)
	}
	if err := c.fill(ctx, name, ver, entries); err != nil {
		c.discard(ctx, name, ver)
		return err
	}
	if c.beforeCommit != nil {
		c.beforeCommit(ver)
	}
	// The commit is not cut short by ctx: HAProxy may have committed when
	// the answer is abandoned, and the discard below would then clear the
	// live map. Only an answer that says it failed is discarded after.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := c.exec(cctx, "commit map @"+ver+" "+escape(name), ""); err != nil {
		if _, refused := errors.AsType[*Error](err); refused {
			c.discard(ctx, name, ver)
		}
		return err
	}
	return nil
}

// fill adds entries to version ver of the map in payload batches.
func (c *Client) fill(ctx context.Context, name, ver string, entries []Entry) error {
	cmd := "add map @" + ver + " " + escape(name)
	// prefix + cmd + " <<\n" + payload + "\n"
	budget := c.payloadLimit - len(severityPrefix) - len(cmd) - len(" <<\n") - len("\n")
	var batch strings.Builder
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		_, err := c.exec(ctx, cmd, batch.String())
		batch.Reset()
		return err
	}
	for _, e := range entries {
		// "key value\n"; an empty value still needs the blank, or HAProxy
		// reads the next line as part of the key.
		n := len(e.Key) + 1 + len(e.Value) + 1
		if n > budget {
			return fmt.Errorf("haproxy add map: %w: entry for key %q is %d bytes, limit %d", ErrInvalid, e.Key, n, budget)
		}
		if batch.Len()+n > budget {
			if err := flush(); err != nil {
				return err
			}
		}
		batch.WriteString(e.Key)
		batch.WriteByte(' ')
		batch.WriteString(e.Value)
		batch.WriteByte('\n')
	}
	return flush()
}

// discard frees a version that will not be committed. It runs even when
// ctx is done; a failure only costs memory until the next commit.
func (c *Client) discard(ctx context.Context, name, ver string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = c.exec(ctx, "clear map @"+ver+" "+escape(name), "")
}

// parseVersion reads "New version created: 7".
func parseVersion(out string) (string, error) {
	_, v, ok := strings.Cut(out, "New version created:")
	v = strings.TrimSpace(v)
	if !ok {
		return "", fmt.Errorf("unexpected answer %q", firstLine(out))
	}
	if _, err := strconv.ParseUint(v, 10, 32); err != nil {
		return "", fmt.Errorf("unexpected version in %q", firstLine(out))
	}
	return v, nil
}

// parseMaps parses the output of "show map" (see Map). Comment lines and
// lines without a numeric id are skipped.
func parseMaps(out string) []Map {
	var ms []Map
	for _, line := range strings.Split(out, "\n") {
		idText, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		id, err := strconv.Atoi(idText)
		if err != nil || id < 0 {
			continue
		}
		m := Map{ID: id}
		if strings.HasPrefix(rest, "(") {
			if end := strings.Index(rest, ") "); end >= 0 {
				m.File = rest[1:end]
			} else if strings.HasSuffix(rest, ")") {
				m.File = rest[1 : len(rest)-1]
			}
		}
		for _, f := range strings.Fields(rest) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			switch k {
			case "curr_ver":
				n, _ := strconv.ParseUint(v, 10, 32)
				m.CurrVer = uint32(n)
			case "next_ver":
				n, _ := strconv.ParseUint(v, 10, 32)
				m.NextVer = uint32(n)
			case "entry_cnt":
				m.Entries, _ = strconv.Atoi(v)
			}
		}
		ms = append(ms, m)
	}
	return ms
}

// parseEntries parses the output of "show map <name>": one entry per line,
// "0x55d6d952a780 alice group1", the value being the rest of the line (empty
// for "0x55d6d952a780 alice "). Lines not starting with a pointer are skipped:
// HAProxy prints an entry whose key holds a newline (added by a malformed
// payload) over two lines.
func parseEntries(out string) []Entry {
	var es []Entry
	for _, line := range strings.Split(out, "\n") {
		ref, rest, ok := strings.Cut(line, " ")
		if !ok || !validSessionID(ref) || rest == "" {
			continue
		}
		key, value, _ := strings.Cut(rest, " ")
		es = append(es, Entry{Key: key, Value: value})
	}
	return es
}

// validName accepts a map file name or "#<id>".
func validName(name string) error {
	if name == "" {
		return fmt.Errorf("haproxy map: %w: empty map name", ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("haproxy map: %w: map name %q has a control character", ErrInvalid, name)
		}
	}
	return nil
}

// validKey rejects what the CLI would split, cut or misread: whitespace
// and control characters, and a leading '#', which "set map" and "del map"
// read as an entry reference.
func validKey(key string) error {
	if key == "" {
		return fmt.Errorf("haproxy map: %w: empty key", ErrInvalid)
	}
	if key[0] == '#' {
		return fmt.Errorf("haproxy map: %w: key %q starts with '#' (HAProxy reads it as an entry reference)", ErrInvalid, key)
	}
	for _, r := range key {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("haproxy map: %w: key %q has whitespace or a control character", ErrInvalid, key)
		}
	}
	return nil
}

// validEntry checks the key and the value. Values may hold spaces (HAProxy
// keeps the rest of the line, trailing spaces included) but no control
// character (a newline would end the entry and start another) and no
// leading space (HAProxy's payload parser drops it).
func validEntry(e Entry) error {
	if err := validKey(e.Key); err != nil {
		return err
	}
	if strings.HasPrefix(e.Value, " ") {
		return fmt.Errorf("haproxy map: %w: value for key %q starts with a space (HAProxy would drop it)", ErrInvalid, e.Key)
	}
	for _, r := range e.Value {
		if unicode.IsControl(r) {
			return fmt.Errorf("haproxy map: %w: value for key %q has a control character", ErrInvalid, e.Key)
		}
	}
	return nil
}
