package logfmt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 23, 11, 30, 39, 123456789, time.FixedZone("X", 3600))

// decision is the access log's record, as gateway.Gate writes it.
func decision(t time.Time) slog.Record {
	r := slog.NewRecord(t, slog.LevelInfo, "decision", 0)
	r.AddAttrs(slog.String("adapter", "proxy"), slog.Bool("allow", true), slog.String("reason", "allowed"),
		slog.String("method", "GET"), slog.String("host", "app.example.com"), slog.String("path", "/app/x"),
		slog.String("route", "app"), slog.String("user", "alice@example.com"), slog.Int64("tenant_id", 1),
		slog.String("remote_addr", "127.0.0.1:40000"), slog.Int64("decide_us", 0))
	return r
}

// both returns what the standard handler and ours write for r, after
// prepare (WithAttrs, WithGroup) is applied to each.
func both(t testing.TB, json bool, opts *slog.HandlerOptions, prepare func(slog.Handler) slog.Handler, r slog.Record) (want, got string) {
	t.Helper()
	var std, ours bytes.Buffer
	var h, f slog.Handler
	if json {
		h, f = slog.NewJSONHandler(&std, opts), NewJSON(&ours, opts)
	} else {
		h, f = slog.NewTextHandler(&std, opts), NewText(&ours, opts)
	}
	if prepare != nil {
		h, f = prepare(h), prepare(f)
	}
	if err := h.Handle(context.Background(), r.Clone()); err != nil {
		t.Fatal(err)
	}
	if err := f.Handle(context.Background(), r.Clone()); err != nil {
		t.Fatal(err)
	}
	return std.String(), ours.String()
}

func TestSameAsStandard(t *testing.T) {
	rec := func(level slog.Level, msg string, attrs ...slog.Attr) slog.Record {
		r := slog.NewRecord(at, level, msg, 0)
		r.AddAttrs(attrs...)
		return r
	}
	zeroTime := decision(time.Time{})
	y10k := decision(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	withAttrs := func(as ...slog.Attr) func(slog.Handler) slog.Handler {
		return func(h slog.Handler) slog.Handler { return h.WithAttrs(as) }
	}
	tests := []struct {
		name    string
		r       slog.Record
		opts    *slog.HandlerOptions
		prepare func(slog.Handler) slog.Handler
		fast    bool // written by the fast path
	}{
		{name: "decision", r: decision(at), fast: true},
		{name: "decision in UTC", r: decision(at.UTC()), fast: true},
		{name: "whole second", r: decision(at.Truncate(time.Second)), fast: true},
		{name: "no time", r: zeroTime, fast: true},
		{name: "year 10000", r: y10k, fast: true},
		{name: "custom level", r: rec(slog.LevelInfo+2, "m", slog.Int("n", -3)), fast: true},
		{name: "empty message and value", r: rec(slog.LevelWarn, "", slog.String("k", "")), fast: true},
		{name: "uint", r: rec(slog.LevelError, "m", slog.Uint64("u", 1<<63)), fast: true},
		{name: "message with a space", r: rec(slog.LevelInfo, "stream cut", slog.String("k", "v"))},
		{name: "value to quote", r: rec(slog.LevelInfo, "m", slog.String("path", `/a b"c=d\`))},
		{name: "control and unicode", r: rec(slog.LevelInfo, "m", slog.String("v", "a\nb\u2028ü\xff"))},
		{name: "key to quote", r: rec(slog.LevelInfo, "m", slog.String("a key", "v"))},
		{name: "empty key", r: rec(slog.LevelInfo, "m", slog.String("", "v"))},
		{name: "empty attr", r: rec(slog.LevelInfo, "m", slog.Attr{})},
		{name: "float", r: rec(slog.LevelInfo, "m", slog.Float64("f", 1.5e300))},
		{name: "duration", r: rec(slog.LevelInfo, "m", slog.Duration("d", 1500*time.Millisecond))},
		{name: "error", r: rec(slog.LevelInfo, "m", slog.Any("err", errors.New("boom")))},
		{name: "group attr", r: rec(slog.LevelInfo, "m", slog.Group("g", slog.Int("a", 1)))},
		{name: "time attr", r: rec(slog.LevelInfo, "m", slog.Time("t", at))},
		{name: "with plain attrs", r: decision(at), prepare: withAttrs(slog.String("component", "gate"), slog.Int("n", 2)), fast: true},
		{name: "with attrs to quote", r: decision(at), prepare: withAttrs(slog.String("component", "a b"))},
		{name: "with group", r: decision(at), prepare: func(h slog.Handler) slog.Handler { return h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("a", 1)}) }},
		{name: "empty group name", r: decision(at), prepare: func(h slog.Handler) slog.Handler { return h.WithGroup("") }},
		{name: "add source", r: decision(at), opts: &slog.HandlerOptions{AddSource: true}},
		{name: "replace attr", r: decision(at), opts: &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == "user" {
				a.Value = slog.StringValue("x")
			}
			return a
		}}},
	}
	for _, tt := range tests {
		for _, json := range []bool{false, true} {
			name := tt.name + "/text"
			if json {
				name = tt.name + "/json"
			}
			t.Run(name, func(t *testing.T) {
				want, got := both(t, json, tt.opts, tt.prepare, tt.r)
				if got != want {
					t.Errorf("wrote\n%s\nslog wrote\n%s", got, want)
				}
				// The fast path took what it should, and only that.
				var h slog.Handler = newHandler(json, io.Discard, tt.opts)
				if tt.prepare != nil {
					h = tt.prepare(h)
				}
				fh := h.(*Handler)
				_, ok := fh.appendRecord(nil, tt.r)
				fast := ok && !fh.slow
				if wantFast := tt.fast && !(json && tt.name == "year 10000"); fast != wantFast {
					t.Errorf("fast path %v, want %v", fast, wantFast)
				}
			})
		}
	}
}

func TestEnabled(t *testing.T) {
	for _, tt := range []struct {
		level slog.Leveler
		at    slog.Level
		want  bool
	}{
		{nil, slog.LevelInfo, true},
		{nil, slog.LevelDebug, false},
		{slog.LevelWarn, slog.LevelInfo, false},
		{slog.LevelWarn, slog.LevelError, true},
		{slog.LevelDebug, slog.LevelDebug, true},
	} {
		h := NewText(io.Discard, &slog.HandlerOptions{Level: tt.level})
		if got := h.Enabled(context.Background(), tt.at); got != tt.want {
			t.Errorf("level %v: Enabled(%v) = %v, want %v", tt.level, tt.at, got, tt.want)
		}
	}
}

// FuzzSameAsStandard compares both handlers on records of arbitrary keys
// and values, in both formats.
func FuzzSameAsStandard(f *testing.F) {
	f.Add("msg", "user", "alice@example.com", int64(3), true, false)
	f.Add("stream cut", "path", "/a b", int64(-1), false, true)
	f.Add("m", "k=v", "\x00\"\\", int64(0), true, true)
	f.Fuzz(func(t *testing.T, msg, key, val string, n int64, b, json bool) {
		r := slog.NewRecord(at, slog.Level(n%16), msg, 0)
		r.AddAttrs(slog.String(key, val), slog.Int64("n", n), slog.Bool(val, b))
		prepare := func(h slog.Handler) slog.Handler { return h.WithAttrs([]slog.Attr{slog.String(val, key)}) }
		for _, p := range []func(slog.Handler) slog.Handler{nil, prepare} {
			if want, got := both(t, json, nil, p, r); got != want {
				t.Fatalf("wrote\n%q\nslog wrote\n%q", got, want)
			}
		}
	})
}

// BenchmarkDecision compares the cost of an access log line.
//
//	go test ./internal/logfmt -run '^$' -bench Decision -benchmem
func BenchmarkDecision(b *testing.B) {
	for _, json := range []bool{false, true} {
		std, ours := slog.Handler(slog.NewTextHandler(io.Discard, nil)), slog.Handler(NewText(io.Discard, nil))
		format := "text"
		if json {
			std, ours, format = slog.NewJSONHandler(io.Discard, nil), NewJSON(io.Discard, nil), "json"
		}
		for _, h := range []struct {
			name string
			h    slog.Handler
		}{{"slog", std}, {"logfmt", ours}} {
			b.Run(format+"/"+h.name, func(b *testing.B) {
				l := slog.New(h.h)
				r := decision(time.Now())
				attrs := make([]slog.Attr, 0, r.NumAttrs())
				r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
				b.ReportAllocs()
				for b.Loop() {
					l.LogAttrs(context.Background(), slog.LevelInfo, "decision", attrs...)
				}
			})
		}
	}
}
