package stack

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// waitHTTP polls url through rt until it answers with a status below 500 or
// timeout passes: a step of up after the Compose SDK has seen every service
// healthy, because healthy inside the network is not yet answering through
// the published port.
func waitHTTP(ctx context.Context, url string, rt http.RoundTripper, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A redirect (plain HTTP's to HTTPS) is an answer: not followed.
	client := &http.Client{Transport: rt, Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-time.After(500 * time.Millisecond):
		}
	}
}
