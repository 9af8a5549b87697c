package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimgate/scimgate/directory"
)

func scimToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "scim-token", map[string]command{"create": scimTokenCreate, "list": scimTokenList, "revoke": scimTokenRevoke}, []string{"create", "list", "revoke"}, args, stdout, stderr)
}

// scimTokenCreate prints the secret alone on stdout so that scripts can
// capture it; everything else goes to stderr.
func scimTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, src := stateFlags("scim-token create", stderr)
	tenant := fs.String("tenant", "", "tenant (IdP connection) the token belongs to; created if new")
	desc := fs.String("description", "", "what the token is for, shown by list")
	ttl := ttlFlag(fs, "lifetime, e.g. 90d or 2160h; 0 means no expiry")
	if err := parse(fs, args); err != nil {
		return err
	}
	name, err := tenantFlag(*tenant, false)
	if err != nil {
		return err
	}
	_, dir, closeFn, err := openDirectory(ctx, src, newLogger(defaultLog(), stderr), true)
	if err != nil {
		return err
	}
	defer closeFn()
	secret, info, created, err := dir.CreateToken(ctx, name, *desc, *ttl, "cli")
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stderr, "created tenant %q\n", info.Tenant)
	}
	fmt.Fprintf(stderr, "created SCIM token %s for tenant %q; it is shown once\n", info.ID, info.Tenant)
	fmt.Fprintln(stdout, secret)
	return nil
}

func scimTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, src := stateFlags("scim-token list", stderr)
	tenant := fs.String("tenant", "", "only this tenant's tokens")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, dir, closeFn, err := openDirectory(ctx, src, newLogger(defaultLog(), stderr), false)
	if err != nil {
		return err
	}
	defer closeFn()
	name, _ := tenantFlag(*tenant, true)
	tokens, err := dir.Tokens(ctx, name)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tSTATUS\tCREATED\tEXPIRES\tLAST USED\tDESCRIPTION")
	now := time.Now()
	for _, t := range tokens {
		status := credentialStatus(t.Revoked, t.Expires, now)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Tenant, status, stamp(t.Created), stamp(t.Expires), stamp(t.LastUsed), t.Description)
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func scimTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return revokeCredential(ctx, args, stdout, stderr, "scim-token", "SCIM token", (*directory.Service).RevokeToken)
}

// revokeCredential is "<command> revoke ID" for a credential named what,
// revoked by revoke with the actor "cli".
func revokeCredential(ctx context.Context, args []string, stdout, stderr io.Writer, command, what string,
	revoke func(d *directory.Service, ctx context.Context, id, actor string) error) error {
	fs, src := stateFlags(command+" revoke", stderr)
	if err := parseArgs(fs, args, 1); err != nil {
		return fmt.Errorf("%w (%s revoke --config FILE ID, the ID from %s list)", err, command, command)
	}
	if id := fs.Arg(0); strings.HasPrefix(id, directory.AccessTokenPrefix) || strings.HasPrefix(id, directory.SCIMTokenPrefix) {
		// Never echo it: it may be a live secret.
		return fmt.Errorf("%w: %s revoke takes the token's ID (the 16 hex digits after the prefix, see %s list), not the token itself", errUsage, command, command)
	}
	_, dir, closeFn, err := openDirectory(ctx, src, newLogger(defaultLog(), stderr), false)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := revoke(dir, ctx, fs.Arg(0), "cli"); err != nil {
		return err
	}
	settle()
	fmt.Fprintf(stdout, "revoked %s %s\n", what, fs.Arg(0))
	return nil
}
