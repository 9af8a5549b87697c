package main

import (
	"context"
	"fmt"
	"io"

	"github.com/scimgate/scimgate/admin"
)

func adminToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch(ctx, "admin-token", map[string]command{"create": adminTokenCreate}, []string{"create"}, args, stdout, stderr)
}

// adminTokenCreate prints a new admin token alone on stdout and, on
// stderr, the hash to list under admin_token_sha256. Nothing is stored:
// the configuration holds the hash, the operator the token.
func adminTokenCreate(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("admin-token create", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	secret, hash, err := admin.NewToken()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "Add the hash to the configuration; send the token as \"Authorization: Bearer TOKEN\" to the admin listener's /audit/ and /access/:\n  admin_token_sha256: [%q]\n", hash)
	return nil
}
