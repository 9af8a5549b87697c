package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimgate/scimgate/audit"
)

// errAltered is what audit verify returns when it found problems (exit 1).
var errAltered = errors.New("audit trail altered")

func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "audit", map[string]command{
		"verify": auditVerify,
		"log":    auditLog,
	}, []string{"verify", "log"}, args, stdout, stderr)
}

// headsFlag collects repeated --head stream:SEQ:HEX values.
type headsFlag []audit.Head

func (h *headsFlag) String() string {
	var s []string
	for _, x := range *h {
		s = append(s, x.String())
	}
	return strings.Join(s, " ")
}

func (h *headsFlag) Set(v string) error {
	x, err := audit.ParseHead(v)
	if err != nil {
		return err
	}
	*h = append(*h, x)
	return nil
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, src := stateFlags("audit verify", stderr)
	var heads headsFlag
	fs.Var(&heads, "head", "a head kept from an earlier verify, stream:SEQ:HASH (repeatable): detects a rewritten or cut stream")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	index := fs.Bool("index", false, "also rebuild the temporal index that access who and access history read from the change log and compare it (slower: it reindexes the whole log)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, st, err := src.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := audit.Verify(ctx, st, heads)
	if err != nil {
		return err
	}
	if *index {
		c, ok := st.(audit.HistoryChecker)
		if !ok {
			return fmt.Errorf("--index: this store cannot rebuild its index")
		}
		if err := audit.VerifyIndex(ctx, c, &rep); err != nil {
			return fmt.Errorf("--index: %w", err)
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STREAM\tRECORDS\tSEQS\tHEAD")
		for _, s := range rep.Streams {
			seqs, head := "-", "-"
			if s.Records > 0 {
				seqs, head = fmt.Sprintf("%d-%d", s.FirstSeq, s.HeadSeq), s.Head().String()
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Stream, s.Records, seqs, head)
		}
		tw.Flush()
		fmt.Fprintln(stdout)
		for _, s := range rep.Streams {
			if s.AnchorSeq == 0 {
				continue
			}
			fmt.Fprintf(stdout, "%s: records up to seq %d were pruned by retention (the stream starts after its anchor there)\n", s.Stream, s.AnchorSeq)
			if src.config != "" && cfg.Audit.Retention.Decisions == "" {
				fmt.Fprintf(stdout, "%s: note: %s sets no audit.retention.decisions; if retention never ran on this store, the anchor was written to hide deleted records\n",
					s.Stream, src.config)
			}
		}
		for _, f := range rep.Findings {
			fmt.Fprintln(stdout, f)
		}
		for _, s := range rep.Streams {
			if s.Omitted > 0 {
				fmt.Fprintf(stdout, "%s: %d more problems not shown\n", s.Stream, s.Omitted)
			}
		}
		if rep.OK {
			fmt.Fprintln(stdout, "OK: every record matches its hash and links to the one before it.")
			if *index {
				fmt.Fprintln(stdout, "The temporal index matches the one rebuilt from the change log.")
			}
			fmt.Fprintln(stdout, "Keep the heads above outside this machine; `audit verify --head STREAM:SEQ:HASH` then also detects a rewritten or cut stream.")
		}
	}
	if !rep.OK {
		n := len(rep.Findings)
		for _, s := range rep.Streams {
			n += s.Omitted
		}
		return fmt.Errorf("%w: %d problem(s) found", errAltered, n)
	}
	return nil
}

func auditLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, src := stateFlags("audit log", stderr)
	since := fs.String("since", "", "from this time on: RFC 3339, a date (2026-01-02), or a duration before now (24h)")
	until := fs.String("until", "", "before this time (same forms as --since)")
	user := fs.String("user", "", "only what concerns this userName")
	route := fs.String("route", "", "only decisions on this route and the policy versions that define it")
	limit := fs.Int("limit", 0, "at most this many entries (0: all)")
	asJSON := fs.Bool("json", false, "JSON lines")
	if err := parse(fs, args); err != nil {
		return err
	}
	now := time.Now()
	f := audit.Filter{User: strings.TrimSpace(*user), Route: strings.TrimSpace(*route), Limit: *limit}
	var err error
	if f.Since, err = audit.ParseTime(*since, now); err != nil {
		return fmt.Errorf("%w: --since: %v", errUsage, err)
	}
	if f.Until, err = audit.ParseTime(*until, now); err != nil {
		return fmt.Errorf("%w: --until: %v", errUsage, err)
	}
	if f.Limit < 0 {
		return fmt.Errorf("%w: --limit must not be negative", errUsage)
	}
	_, st, err := src.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	err = audit.Log(ctx, st, f, func(e audit.Entry) error {
		if *asJSON {
			return enc.Encode(e)
		}
		_, err := fmt.Fprintln(w, e.Text())
		return err
	})
	// A full disk or a closed pipe must not pass for a complete log.
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}
