package runtime

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Real "show sess" output of HAProxy 2.6.12: an IPv4 and an IPv6 client
// streaming through fe1, and the CLI's own session.
const showSess = `0x55ef00100d30: proto=tcpv4 src=127.0.0.1:52750 fe=fe1 be=be1 srv=s1 ts=00 epoch=0x3 age=2s calls=3 rate=0 cpu=0 lat=0 rq[f=49c40080h,i=0,an=8000h,rx=,wx=,ax=] rp[f=80040202h,i=0,an=4000000h,rx=59s,wx=,ax=] scf=[8,80h,fd=14] scb=[8,11h,fd=15] exp=3s rc=0 c_exp=
0x55ef0021ce60: proto=tcpv6 src=::1:51618 fe=fe1 be=be1 srv=s1 ts=00 epoch=0x3 age=1m5s calls=3 rate=0 cpu=0 lat=0 rq[f=49c40080h,i=0,an=8000h,rx=,wx=,ax=] rp[f=80040202h,i=0,an=4000000h,rx=59s,wx=,ax=] scf=[8,80h,fd=16] scb=[8,11h,fd=17] exp=3s rc=0 c_exp=
0x7f1a78039d90: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0x3 age=0s calls=1 rate=1 cpu=0 lat=0 rq[f=c08002h,i=0,an=00h,rx=2m,wx=,ax=] rp[f=80008002h,i=0,an=00h,rx=,wx=,ax=] scf=[8,0h,fd=18] scb=[8,1h,fd=-1] exp=2m rc=0 c_exp=`

func TestParseSessions(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Session
	}{
		{"haproxy 2.6", showSess, []Session{
			{ID: "0x55ef00100d30", Proto: "tcpv4", Src: "127.0.0.1:52750", Frontend: "fe1", Backend: "be1", Server: "s1", Age: 2 * time.Second},
			{ID: "0x55ef0021ce60", Proto: "tcpv6", Src: "[::1]:51618", Frontend: "fe1", Backend: "be1", Server: "s1", Age: 65 * time.Second},
		}},
		{"empty", "", nil},
		{"only the cli", strings.Split(showSess, "\n")[2], nil},
		{"no backend yet, unknown source, odd age",
			"0x1a: proto=? src=?:? fe=web be=<NONE> srv=<none> age=?\n",
			[]Session{{ID: "0x1a", Proto: "?", Frontend: "web", Age: 0}}},
		{"long age", "0xAb12: proto=tcpv4 src=10.0.0.1:1 fe=a be=b srv=c age=3d4h\n",
			[]Session{{ID: "0xAb12", Proto: "tcpv4", Src: "10.0.0.1:1", Frontend: "a", Backend: "b", Server: "c", Age: 76 * time.Hour}}},
		{"garbage around", "hello\n0xzz: fe=x\n: fe=y\n0x: fe=z\n0x2:fe=w\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parseSessions(tt.in)); diff != "" {
				t.Errorf("parseSessions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSessionDetail(t *testing.T) {
	const detail = `0x7f1a78039d90: [22/Nov/2026:21:50:31.160476] id=45 proto=tcpv6 source=::1:34052
  flags=0xc4a, conn_retries=0, conn_exp=<NEVER> conn_et=0x000 srv_conn=0x55ef00040050, pend_pos=(nil) waiting=0 epoch=0x8
  frontend=fe1 (id=2 mode=http), listener=? (id=2) addr=::1:51829
  backend=be1 (id=3 mode=http) addr=127.0.0.1:51288
  server=s1 (id=1) addr=127.0.0.1:59685`
	src, fe := parseSessionDetail(detail)
	if src != "[::1]:34052" || fe != "fe1" {
		t.Errorf("parseSessionDetail = %q, %q; want [::1]:34052, fe1", src, fe)
	}
	if src, fe := parseSessionDetail("Session not found."); src != "" || fe != "" {
		t.Errorf("parseSessionDetail(not found) = %q, %q; want empty", src, fe)
	}
}

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0s", 0, true},
		{"45s", 45 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"2h5m", 2*time.Hour + 5*time.Minute, true},
		{"3d4h", 76 * time.Hour, true},
		{"24855d23h", 24855*24*time.Hour + 23*time.Hour, true},
		{"?", 0, false},
		{"", 0, false},
		{"5", 0, false},
		{"s", 0, false},
		{"5x", 0, false},
		{"1m-3s", 0, false},
		{"999999999d999999999d999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := parseAge(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseMaps(t *testing.T) {
	// Real "show map" output of HAProxy 2.6.12.
	in := "# id (file) description\n" +
		"0 (/tmp/x/m.map) pattern loaded from file '/tmp/x/m.map' used by map at file 'h2.cfg' line 13, by map at file 'h2.cfg' line 14. curr_ver=0 next_ver=2 entry_cnt=4\n" +
		"3 (/tmp/x/ip.map) pattern loaded from file '/tmp/x/ip.map' used by map at file 'h2.cfg' line 16. curr_ver=5 next_ver=5 entry_cnt=0\n" +
		"7 () map 'req.hdr' file 'h.cfg' line 3. curr_ver=0 next_ver=0 entry_cnt=1\n" +
		"x (y) junk\n"
	want := []Map{
		{ID: 0, File: "/tmp/x/m.map", CurrVer: 0, NextVer: 2, Entries: 4},
		{ID: 3, File: "/tmp/x/ip.map", CurrVer: 5, NextVer: 5, Entries: 0},
		{ID: 7, File: "", Entries: 1},
	}
	got := parseMaps(in)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMaps mismatch (-want +got):\n%s", diff)
	}
	if got[0].Name() != "/tmp/x/m.map" || got[2].Name() != "#7" {
		t.Errorf("Name() = %q, %q; want the file, then #7", got[0].Name(), got[2].Name())
	}
}

func TestParseEntries(t *testing.T) {
	// Real "show map <file>" output of HAProxy 2.6.12, including the
	// two-line dump of a key that swallowed a newline.
	in := "0x55d6d952a780 alice a;b\n" +
		"0x55d6d952a7d0 bob group2 with spaces\n" +
		"0x55d6d9708610 k2 value with  spaces  \n" +
		"0x55d6d9708850 k4\n#k5 hash;semi\\back\n" +
		"0x7f5e680466d0 k6 \n"
	want := []Entry{
		{"alice", "a;b"},
		{"bob", "group2 with spaces"},
		{"k2", "value with  spaces  "},
		{"k4", ""},
		{"k6", ""},
	}
	if diff := cmp.Diff(want, parseEntries(in)); diff != "" {
		t.Errorf("parseEntries mismatch (-want +got):\n%s", diff)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"New version created: 1", "1", true},
		{"New version created: 4294967295", "4294967295", true},
		{"New version created: 4294967296", "", false},
		{"New version created: x", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := parseVersion(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseVersion(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseSessions(f *testing.F) {
	f.Add(showSess)
	f.Add("0x1a: proto=? src=?:? fe=web be=<NONE> srv=<none> age=?\n")
	f.Add("0x7f1a78039d90: [22/Nov/2026:21:50:31.160476] id=45 proto=tcpv6 source=::1:34052\n  frontend=fe1 (id=2 mode=http)")
	f.Fuzz(func(t *testing.T, in string) {
		for _, s := range parseSessions(in) {
			if !validSessionID(s.ID) {
				t.Fatalf("parseSessions(%q) returned id %q", in, s.ID)
			}
			if s.Frontend == "GLOBAL" {
				t.Fatalf("parseSessions(%q) returned a GLOBAL session", in)
			}
			if s.Age < 0 {
				t.Fatalf("parseSessions(%q) returned age %v", in, s.Age)
			}
		}
		parseSessionDetail(in)
		parseAge(in)
	})
}

func FuzzParseMaps(f *testing.F) {
	f.Add("# id (file) description\n0 (/tmp/x/m.map) pattern loaded from file '/tmp/x/m.map' used by map at file 'h2.cfg' line 13. curr_ver=0 next_ver=2 entry_cnt=4\n")
	f.Add("7 () map 'req.hdr' file 'h.cfg' line 3. curr_ver=0 next_ver=0 entry_cnt=1\n")
	f.Add("1 (")
	f.Fuzz(func(t *testing.T, in string) {
		for _, m := range parseMaps(in) {
			if m.ID < 0 {
				t.Fatalf("parseMaps(%q) returned id %d", in, m.ID)
			}
			_ = m.Name()
		}
		parseVersion(in)
	})
}

func FuzzParseEntries(f *testing.F) {
	f.Add("0x55d6d952a780 alice a;b\n0x55d6d952a7d0 bob group2 with spaces\n0x1 k4\n#k5 x\n0x2 k6 \n")
	f.Fuzz(func(t *testing.T, in string) {
		for _, e := range parseEntries(in) {
			// An empty key is possible: HAProxy prints "0x... " + "" + " v".
			if strings.ContainsAny(e.Key, " \n") || strings.Contains(e.Value, "\n") {
				t.Fatalf("parseEntries(%q) returned %q", in, e)
			}
		}
	})
}

// FuzzInterpret feeds arbitrary answers to the answer classifier.
func FuzzInterpret(f *testing.F) {
	f.Add("\n[3]: Unknown map identifier. Please use #<id> or <file>.\n\n")
	f.Add("\n[6]: New version created: 1\n\n")
	f.Add("\nSession not found.\n\n")
	f.Add("[")
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := interpret("show map", raw)
		if err != nil && out != "" {
			t.Fatalf("interpret(%q) = %q and %v", raw, out, err)
		}
	})
}
