package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// exchange sends requests to one server with retries.
type exchange struct {
	device   string
	base     *url.URL
	client   *http.Client
	decorate func(*http.Request) error
	attempts int
	delay    time.Duration
}

func newExchange(opts SyncOptions, device string) (*exchange, error) {
	if opts.ServerURL == "" {
		return nil, errors.New("ssync client: SyncOptions.ServerURL is empty")
	}
	base, err := url.Parse(strings.TrimRight(opts.ServerURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("ssync client: SyncOptions.ServerURL %q is not an http(s) URL", opts.ServerURL)
	}
	bp := opts.BasePath
	if bp == "" {
		bp = DefaultBasePath
	}
	base.Path += "/" + strings.Trim(bp, "/")
	ex := &exchange{device: device, base: base, client: opts.HTTPClient, decorate: opts.Decorate,
		attempts: opts.MaxAttempts, delay: opts.RetryDelay}
	if ex.client == nil {
		ex.client = &http.Client{Timeout: 2 * time.Minute}
	}
	if ex.attempts <= 0 {
		ex.attempts = 4
	}
	if ex.delay <= 0 {
		ex.delay = 250 * time.Millisecond
	}
	return ex, nil
}

// maxResponse bounds what one buffered response may hold.
const maxResponse = 1 << 30

// do sends one request, retrying with the same body and idempotency key when
// the failure may pass, and returns the body of a 2xx response.
func (ex *exchange) do(ctx context.Context, op, method string, q url.Values, body []byte, idemKey string, withDevice bool) ([]byte, error) {
	var out []byte
	err := ex.retry(ctx, op, func() *TransportError {
		resp, terr := ex.send(ctx, op, method, q, body, idemKey, withDevice)
		if terr != nil {
			return terr
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return &TransportError{Op: op, Err: fmt.Errorf("read response: %w", err)}
		}
		out = data
		return nil
	})
	return out, err
}

// stream sends a GET and returns the open body of its 2xx response, retrying
// the request (not the reading) like do.
func (ex *exchange) stream(ctx context.Context, op string, q url.Values, withDevice bool) (io.ReadCloser, error) {
	var out io.ReadCloser
	err := ex.retry(ctx, op, func() *TransportError {
		resp, terr := ex.send(ctx, op, http.MethodGet, q, nil, "", withDevice)
		if terr != nil {
			return terr
		}
		out = resp.Body
		return nil
	})
	return out, err
}

func (ex *exchange) retry(ctx context.Context, op string, attempt func() *TransportError) error {
	delay := ex.delay
	for n := 1; ; n++ {
		terr := attempt()
		if terr == nil {
			return nil
		}
		if ctx.Err() != nil {
			return &TransportError{Op: op, Err: ctx.Err()}
		}
		if !terr.retryable() || n >= ex.attempts {
			return terr
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return &TransportError{Op: op, Err: ctx.Err()}
		case <-t.C:
		}
		delay *= 2
	}
}

// send sends one request and returns a 2xx response (body open) or the
// error answer.
func (ex *exchange) send(ctx context.Context, op, method string, q url.Values, body []byte, idemKey string, withDevice bool) (*http.Response, *TransportError) {
	u := *ex.base
	u.Path += "/" + op
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if withDevice {
		req.Header.Set(HeaderDevice, ex.device)
	}
	if ex.decorate != nil {
		if err := ex.decorate(req); err != nil {
			return nil, &TransportError{Op: op, Err: fmt.Errorf("decorate request: %w", err)}
		}
	}
	resp, err := ex.client.Do(req)
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	te := &TransportError{Op: op, StatusCode: resp.StatusCode}
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &eb) == nil {
		te.Code, te.Message = eb.Error.Code, eb.Error.Message
	}
	return nil, te
}
