package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

func sessionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: sessions needs a subcommand: list or revoke", errUsage)
	}
	fs, src := stateFlags("sessions "+args[0], stderr)
	user := fs.String("user", "", "userName whose sessions to show or end")
	tenant := fs.String("tenant", "", "tenant of the user, when several tenants have that userName")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *user == "" {
		return fmt.Errorf("%w: --user USERNAME is required", errUsage)
	}
	_, dir, closeFn, err := openDirectory(ctx, src, newLogger(defaultLog(), stderr), false)
	if err != nil {
		return err
	}
	defer closeFn()
	switch args[0] {
	case "list":
		list, err := dir.Sessions(ctx, *tenant, *user)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTENANT\tSTATUS\tCREATED\tLAST SEEN\tEXPIRES\tFROM\tUSER AGENT")
		now := time.Now()
		for _, s := range list {
			status := credentialStatus(s.Revoked, s.Expires, now)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Tenant, status, stamp(s.Created), stamp(s.LastSeen),
				stamp(s.Expires), s.Remote, s.UserAgent)
		}
		return tw.Flush()
	case "revoke":
		n, err := dir.RevokeUserSessions(ctx, *tenant, *user, "cli")
		if err != nil {
			return err
		}
		settle()
		fmt.Fprintf(stdout, "revoked %d sessions of %s\n", n, *user)
		return nil
	}
	return fmt.Errorf("%w: unknown sessions subcommand %q (list or revoke)", errUsage, args[0])
}
