package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scimgate/scimgate/audit"
)

func accessCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "access", map[string]command{
		"who":     accessWho,
		"history": accessHistory,
	}, []string{"who", "history"}, args, stdout, stderr)
}

// accessWho prints the users who could reach a route at a time: one per
// line, the bare userName first, then (after tabs) what granted access
// and the tenant, so that `cut -f1` gives the names.
func accessWho(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, src := stateFlags("access who", stderr)
	route := fs.String("route", "", "route name, as in the configuration")
	atFlag := fs.String("at", "", "the time: RFC 3339 (2026-01-02T15:04:05Z), a date, or a duration before now (24h)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*route) == "" {
		return fmt.Errorf("%w: --route NAME is required", errUsage)
	}
	at, err := atTime(*atFlag)
	if err != nil {
		return err
	}
	_, st, err := src.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := audit.Who(ctx, st, strings.TrimSpace(*route), at)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	for _, a := range res.Users {
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", audit.Field(a.UserName), audit.Field(a.Via), audit.Field(a.Tenant))
	}
	fmt.Fprintf(stderr, "%d user(s) could reach %s at %s (policy version %d from %s; directory after change %d)\n",
		len(res.Users), res.Route, res.At.UTC().Format(time.RFC3339Nano), res.Policy.Seq, res.Policy.Source, res.Seq)
	return nil
}

// atTime reads --at, which is required.
func atTime(s string) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return time.Time{}, fmt.Errorf("%w: --at TIME is required: RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02), or a duration before now (90m)", errUsage)
	}
	at, err := audit.ParseTime(s, time.Now())
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --at: %v", errUsage, err)
	}
	return at, nil
}

// accessHistory prints the intervals in which a user could reach each
// route, one per line: route, userName, from, to ("now" while it lasts),
// what granted access, and the change or policy version that opened and
// closed it, separated by tabs.
func accessHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, src := stateFlags("access history", stderr)
	user := fs.String("user", "", `userName, or "tenant/userName"`)
	route := fs.String("route", "", "only this route")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(*user) == "" {
		return fmt.Errorf("%w: --user USERNAME is required", errUsage)
	}
	_, st, err := src.openExisting(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := audit.History(ctx, st, strings.TrimSpace(*user), strings.TrimSpace(*route))
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	for _, in := range res.Intervals {
		to, closed := "now", "-"
		if in.To != nil {
			to, closed = in.To.At.UTC().Format(time.RFC3339Nano), in.To.String()
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", audit.Field(in.Route), audit.Field(in.UserName),
			in.From.At.UTC().Format(time.RFC3339Nano), to, audit.Field(in.Via), audit.Field(in.From.String()), audit.Field(closed))
	}
	var users []string
	for _, u := range res.Users {
		users = append(users, fmt.Sprintf("%s (tenant %s, id %s)", audit.Field(u.UserName), audit.Field(u.Tenant), audit.Field(u.UserID)))
	}
	fmt.Fprintf(stderr, "%d interval(s) for %s since the first policy version (%s)\n",
		len(res.Intervals), strings.Join(users, ", "), res.Since.UTC().Format(time.RFC3339Nano))
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
