package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/haproxy/spoe"
)

// startSPOE runs the HAProxy SPOE agent until ctx ends, and says where on
// stdout.
func startSPOE(ctx context.Context, c config.SPOE, gate *gateway.Gate, stdout io.Writer, log *slog.Logger) error {
	o := spoe.Options{Log: log, MaxFrameSize: c.MaxFrameSize}
	if c.RuntimeAPI != "" {
		rt, err := runtime.New(c.RuntimeAPI)
		if err != nil {
			return fmt.Errorf("spoe.runtime_api: %w", err)
		}
		o.Runtime = rt
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("spoe: listen: %w", err)
	}
	agent := spoe.New(gate, o)
	go func() {
		if err := agent.Serve(ctx, ln); err != nil {
			log.Error("SPOE agent stopped", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "HAProxy SPOE agent: %s\n", ln.Addr())
	log.Info("SPOE agent", "addr", ln.Addr().String(), "runtime_api", c.RuntimeAPI)
	return nil
}
