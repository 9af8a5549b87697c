package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/scimgate/scimgate/directory"
	"github.com/scimgate/scimgate/scimapi"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, configPath := flags("serve", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	dir := directory.New(st, directory.Options{Logger: log, MaxResults: cfg.SCIM.MaxResults})
	var secret string
	if cfg.SCIM.BootstrapTenant != "" {
		if secret, err = dir.Bootstrap(ctx, cfg.SCIM.BootstrapTenant); err != nil {
			return err
		}
	}
	api := scimapi.New(dir, scimapi.Options{
		BasePath:            cfg.SCIM.BasePath,
		BaseURL:             cfg.SCIM.BaseURL,
		MaxBodyBytes:        cfg.SCIM.MaxBodyBytes,
		BulkMaxOperations:   cfg.SCIM.Bulk.MaxOperations,
		BulkMaxPayload:      cfg.SCIM.Bulk.MaxPayloadBytes,
		AuthFailureBurst:    cfg.SCIM.AuthFailures.Burst,
		AuthFailureInterval: cfg.SCIM.AuthFailures.Interval,
		Logger:              log,
	})
	mux := http.NewServeMux()
	mux.Handle(api.BasePath()+"/", api)
	mux.Handle(api.BasePath(), api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	base := cfg.SCIM.BaseURL
	if base == "" {
		base = "http://" + ln.Addr().String() + api.BasePath()
	}
	printBanner(stdout, base, cfg.SCIM.BootstrapTenant, secret, *configPath)
	log.Info("serving", "listen", ln.Addr().String(), "scim", base, "store", cfg.Store)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func printBanner(w io.Writer, base, tenant, secret, configPath string) {
	fmt.Fprintf(w, "scimgate is running.\n\n  SCIM base URL: %s/\n", base)
	if secret == "" {
		fmt.Fprintf(w, "\nCreate a SCIM token for your identity provider with:\n  scimgate scim-token create --config %s --tenant NAME\n\n", configPath)
		return
	}
	fmt.Fprintf(w, "  Tenant:        %s (created now)\n  SCIM token:    %s\n", tenant, secret)
	fmt.Fprintf(w, "                 shown once; only its hash is stored. More with:\n")
	fmt.Fprintf(w, "                 scimgate scim-token create --config %s --tenant %s\n\n", configPath, tenant)
	fmt.Fprintf(w, "Try it:\n  export SCIM_TOKEN=%s\n", secret)
	fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $SCIM_TOKEN\" %s/ServiceProviderConfig\n", base)
	fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $SCIM_TOKEN\" -H 'Content-Type: application/scim+json' \\\n"+
		"    -d '{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"alice@example.com\",\"active\":true}' \\\n"+
		"    %s/Users\n", base)
	fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $SCIM_TOKEN\" '%s/Users?filter=userName%%20eq%%20%%22alice@example.com%%22'\n\n", base)
}
