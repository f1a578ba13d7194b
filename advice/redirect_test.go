package advice

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAskNoRedirect: a server that redirects the question (to another port of
// the same host, where net/http would send the API key along) is not followed;
// the error names the redirect and the other server sees nothing.
func TestAskNoRedirect(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			t.Parallel()
			other := &fakeLLM{handle: stream("followed")}
			dst := httptest.NewServer(other)
			defer dst.Close()
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, dst.URL+r.URL.Path, code)
			}))
			defer src.Close()
			a, err := Ask(t.Context(), record(t), Target{BaseURL: src.URL, APIKey: testKey, Model: "m"}, nil)
			if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "redirect") {
				t.Errorf("answer %q, err %v: want ErrServer naming the redirect", a, err)
			}
			other.mu.Lock()
			defer other.mu.Unlock()
			if len(other.auth) != 0 {
				t.Errorf("the redirect was followed: %d requests, Authorization %q", len(other.auth), other.auth)
			}
		})
	}
}
