package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/scimgate/scimgate/directory"
)

func accessToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "access-token", map[string]command{"create": accessTokenCreate, "list": accessTokenList, "revoke": accessTokenRevoke}, []string{"create", "list", "revoke"}, args, stdout, stderr)
}

// accessTokenCreate prints the secret alone on stdout.
func accessTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, src := stateFlags("access-token create", stderr)
	user := fs.String("user", "", "userName of the directory user who owns the token")
	tenant := fs.String("tenant", "", "tenant of the user, when several tenants have that userName")
	desc := fs.String("description", "", "what the token is for, shown by list")
	ttl := ttlFlag(fs, "lifetime, e.g. 30d or 12h; 0 means no expiry")
	if err := parse(fs, args); err != nil {
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
	secret, info, err := dir.CreateAccessToken(ctx, *tenant, *user, *desc, *ttl, "cli")
	if err != nil {
		return err
	}
	exp := "never"
	if !info.Expires.IsZero() {
		exp = info.Expires.Format(time.RFC3339)
	}
	fmt.Fprintf(stderr, "created access token %s for %s (tenant %s), expires %s; it is shown once\n", info.ID, *user, info.Tenant, exp)
	fmt.Fprintln(stdout, secret)
	return nil
}

func accessTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, src := stateFlags("access-token list", stderr)
	user := fs.String("user", "", "only this user's tokens")
	tenant := fs.String("tenant", "", "only this tenant's tokens")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, dir, closeFn, err := openDirectory(ctx, src, newLogger(defaultLog(), stderr), false)
	if err != nil {
		return err
	}
	defer closeFn()
	tokens, err := dir.AccessTokens(ctx, *tenant, *user)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tUSER\tSTATUS\tCREATED\tEXPIRES\tDESCRIPTION")
	now := time.Now()
	for _, t := range tokens {
		status := credentialStatus(t.Revoked, t.Expires, now)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Tenant, t.UserName, status, stamp(t.Created), stamp(t.Expires), t.Description)
	}
	return tw.Flush()
}

func accessTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return revokeCredential(ctx, args, stdout, stderr, "access-token", "access token", (*directory.Service).RevokeAccessToken)
}
