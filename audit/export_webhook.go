package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// WebhookOptions configures a WebhookSink.
type WebhookOptions struct {
	URL string
	// SecretFile holds a secret sent in SecretHeader ("Authorization":
	// as a bearer token); read for every batch, so that it can be
	// rotated in place. Optional.
	SecretFile   string
	SecretHeader string
	Timeout      time.Duration // one request; default 10s
	Client       *http.Client  // default: a client of its own
}

// WebhookSink POSTs each batch as JSON lines (application/x-ndjson). Any
// 2xx answer delivers the batch; anything else, or no answer within the
// timeout, is a failure and the batch is sent again later. A receiver
// can be sent a record more than once — when its answer is lost, or
// scimgate stops between its answer and saving the cursor — and should
// deduplicate by stream and seq.
type WebhookSink struct {
	opts WebhookOptions
}

// NewWebhookSink returns a webhook sink. It reads the secret file once to
// fail early when it cannot.
func NewWebhookSink(opts WebhookOptions) (*WebhookSink, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.SecretFile != "" && opts.SecretHeader == "" {
		opts.SecretHeader = "Authorization"
	}
	if opts.Client == nil {
		opts.Client = &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirect would be followed as a GET without the batch,
			// whose 2xx would count as delivered, and would carry a
			// custom secret header to the other host: refuse it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	s := &WebhookSink{opts: opts}
	if _, err := s.secret(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *WebhookSink) secret() (string, error) {
	if s.opts.SecretFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(s.opts.SecretFile)
	if err != nil {
		return "", fmt.Errorf("read webhook secret: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("read webhook secret: %s is empty", s.opts.SecretFile)
	}
	return secret, nil
}

// Send implements Sink.
func (s *WebhookSink) Send(ctx context.Context, recs []ExportRecord) error {
	secret, err := s.secret()
	if err != nil {
		return err
	}
	// A new body each time: the transport may still hold the last one.
	body := appendLines(nil, recs)
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("User-Agent", "scimgate-audit-export")
	if secret != "" {
		if strings.EqualFold(s.opts.SecretHeader, "Authorization") {
			secret = "Bearer " + secret
		}
		req.Header.Set(s.opts.SecretHeader, secret)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		// The query may carry a collector's token (Splunk's, Datadog's):
		// errors are logged, the query is not.
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
				u.RawQuery = "REDACTED"
				ue.URL = u.String()
			}
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return fmt.Errorf("webhook answered %s, redirecting to %q: set audit.export's url to the final address (redirects are not followed)",
			resp.Status, resp.Header.Get("Location"))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s: %q", resp.Status, strings.TrimSpace(string(answer)))
	}
	return nil
}

// Close implements Sink.
func (s *WebhookSink) Close() error {
	s.opts.Client.CloseIdleConnections()
	return nil
}
