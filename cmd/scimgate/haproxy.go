package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
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
	ln, err := listenSPOE(c)
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

// listenSPOE listens where spoe.listen says. A unix socket left by a
// previous run is replaced, one that a process still listens on is not;
// the new socket is as open as a loopback port (mode 0666): keep it in a
// directory only HAProxy's user can reach to narrow that.
func listenSPOE(c config.SPOE) (net.Listener, error) {
	network, addr, _ := c.ListenAddr()
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("%s is in use by another process", addr)
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				return nil, fmt.Errorf("%s exists and cannot be checked: %w", addr, err)
			}
			if err := os.Remove(addr); err != nil {
				return nil, err
			}
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := os.Chmod(addr, 0o666); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
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
