// Command caddy is Caddy with its standard modules and scimgate's
// (package caddyscimgate): the scimgate app, the scimgate, scimgate_scim
// and scimgate_signin handlers, and their Caddyfile directives. It is
// built with plain `go build ./cmd/caddy` and behaves like any Caddy:
// `caddy run --config Caddyfile`, `caddy reload`, `caddy adapt`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/scimgate/scimgate/caddyscimgate"
)

func main() { caddycmd.Main() }
