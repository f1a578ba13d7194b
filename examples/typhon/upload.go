package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/report"
)

// uploadClient sends uploads and follows no redirect: net/http would send the
// bearer token and the record to another port of the same host.
var uploadClient = &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("the collector %w to %s: not followed", errRedirected, req.URL.Redacted())
}}

// uploadBackoff are the waits before the retries of an upload that met no
// answer, a 5xx or a 429: a collector restarting, or one whose disk is full for
// a while, must not lose a worker's record (in a pod, the only other copy goes
// with the pod). An upload is idempotent, so a retry of one that was stored
// answers 200.
var uploadBackoff = []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second}

// uploadRecord POSTs res to the collector at base (its /results endpoint) with
// the bearer token of $TYPHON_UPLOAD_TOKEN, retrying as uploadBackoff says;
// nothing when base is "".
func uploadRecord(ctx context.Context, base string, res *typhon.Result, stderr io.Writer) error {
	return uploadRetrying(ctx, base, res, stderr, uploadBackoff)
}

func uploadRetrying(ctx context.Context, base string, res *typhon.Result, stderr io.Writer, backoff []time.Duration) error {
	if base == "" || res == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, res); err != nil {
		return err
	}
	url := strings.TrimRight(base, "/") + "/results"
	for try := 0; ; try++ {
		code, err := uploadOnce(ctx, url, buf.Bytes())
		if err == nil {
			fmt.Fprintf(stderr, "uploaded %s to %s (%d)\n", res.RunID, url, code)
			return nil
		}
		if try >= len(backoff) || !(code == 0 || code >= 500 || code == http.StatusTooManyRequests) || ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(stderr, "typhon: %v; again in %s\n", err, backoff[try])
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(backoff[try]):
		}
	}
}

// errRedirected: the collector answered with a redirect, not followed.
var errRedirected = errors.New("redirected")

// uploadOnce POSTs body to url: the status of a 2xx answer, else the status (0
// without an answer) and why.
func uploadOnce(ctx context.Context, url string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("upload: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok := os.Getenv(envUploadToken); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := uploadClient.Do(req)
	if err != nil {
		if errors.Is(err, errRedirected) {
			return -1, fmt.Errorf("upload: %w", err)
		}
		return 0, fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("upload to %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp.StatusCode, nil
}
