package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/scimgate/scimgate/admin"
	"github.com/scimgate/scimgate/config"
	"github.com/scimgate/scimgate/engine"
	"github.com/scimgate/scimgate/gateway"
	"github.com/scimgate/scimgate/haproxy/mapsync"
	"github.com/scimgate/scimgate/haproxy/runtime"
	"github.com/scimgate/scimgate/haproxy/spoe"
	"github.com/scimgate/scimgate/snapshot"
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
	network, addr, _ := c.ListenAddr()
	ln, err := spoe.Listen(network, addr)
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

// startMapSync starts HAProxy map sync until ctx ends. It writes the map
// files first, denying everything until the first sync, so that an
// HAProxy started next finds every file its configuration loads.
func startMapSync(ctx context.Context, c config.HAProxyMaps, eng *engine.Engine, live *snapshot.Live, metrics *admin.Metrics, log *slog.Logger) (*mapsync.Syncer, error) {
	rt, err := runtime.New(c.RuntimeAPI)
	if err != nil {
		return nil, fmt.Errorf("haproxy_maps.runtime_api: %w", err)
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("haproxy_maps.dir: %w", err)
	}
	if err := mapsync.WriteInitialFiles(c.Dir); err != nil {
		return nil, fmt.Errorf("haproxy_maps.dir: %w", err)
	}
	var sy *mapsync.Syncer
	lastSuccess := func() time.Time {
		if sy == nil {
			return time.Time{}
		}
		return sy.Status().LastSuccess
	}
	sy, err = mapsync.New(rt, eng, live, mapsync.Options{
		Dir: c.Dir, DriftEvery: c.DriftEvery, MaxStale: c.MaxStale,
		Metrics: metrics.MapSync(lastSuccess), Logger: log.With("component", "haproxy_maps"),
	})
	if err != nil {
		return nil, fmt.Errorf("haproxy_maps: %w", err)
	}
	go func() { _ = sy.Run(ctx) }()
	log.Info("HAProxy map sync", "dir", c.Dir, "runtime_api", c.RuntimeAPI, "max_stale", c.MaxStale)
	return sy, nil
}
