package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// noMatchReason says what the candidate answered instead of a known API.
func noMatchReason(ctx context.Context, src source) string {
	if why := catchAllReason(ctx, src); why != "" {
		return why
	}
	first := src.get(ctx, "/v1/models")
	allFailed := true
	for _, path := range firstPaths {
		if a := src.get(ctx, path); a.err == nil {
			allFailed = false
			break
		}
	}
	switch {
	case allFailed:
		return "no answer: " + first.describe()
	case first.err == nil && (first.status == 401 || first.status == 403):
		return fmt.Sprintf("/v1/models answered HTTP %d: an API key is needed (it is sent only to a URL asked for, not to a port scanned)", first.status)
	}
	if why := sameStatusReason(ctx, src); why != "" {
		return why
	}
	var parts []string
	for _, path := range []string{"/v1/models", "/props", "/api/version", "/info"} {
		parts = append(parts, path+": "+src.get(ctx, path).describe())
	}
	if why := modelsShape(first); why != "" {
		parts[0] += " (" + why + ")"
	}
	return "no known LLM API answered (" + strings.Join(parts, "; ") + ")"
}

// sameStatusReason explains a candidate whose first paths all answered (those
// that did, at least half) the same redirect or server error: a proxy in front of a server that is down, a
// redirect to another address. "" otherwise.
func sameStatusReason(ctx context.Context, src source) string {
	first := src.get(ctx, "/v1/models")
	if first.err != nil {
		return ""
	}
	answered := 0
	for _, path := range firstPaths {
		a := src.get(ctx, path)
		if a.err != nil { // a connection refused or reset under the burst
			continue
		}
		if a.status != first.status {
			return ""
		}
		answered++
	}
	if answered < len(firstPaths)/2 {
		return ""
	}
	text := fmt.Sprintf("HTTP %d %s", first.status, http.StatusText(first.status))
	switch {
	case first.status >= 300 && first.status < 400:
		return fmt.Sprintf("every path answered %s (/v1/models to %s): redirects are not followed; give the URL it redirects to",
			text, location(first))
	case first.status == http.StatusBadGateway || first.status == http.StatusGatewayTimeout:
		return fmt.Sprintf("every path answered %s (%s): a proxy whose server is down or does not answer", text, first.describe())
	case first.status >= 500:
		return fmt.Sprintf("every path answered %s (%s)", text, first.describe())
	}
	return ""
}

// location is the target of a redirect, cut and cleaned for a message.
func location(a answer) string {
	loc := a.header.Get("Location")
	if loc == "" {
		return "no Location"
	}
	return fmt.Sprintf("%q", redactURL(cutText(loc, 200)))
}

// modelsShape says why a 2xx /v1/models answer is not an OpenAI model list;
// "" when it is one or is not a 2xx.
func modelsShape(a answer) string {
	if !a.ok() {
		return ""
	}
	if _, ok := decodeModels(a); ok {
		return ""
	}
	b := jsonBody(a.body)
	switch {
	case len(b) == 0:
		return "empty"
	case (b[0] == '[' || b[0] == '{') && !json.Valid(b):
		return "broken JSON"
	case b[0] == '[':
		return "a JSON array, not an object with a data array"
	case b[0] != '{':
		return "not JSON"
	}
	l, ok := decodeObject[oaiList](a)
	switch {
	case !ok:
		return "broken JSON"
	case l.Data == nil:
		return "no data array"
	}
	return "a model without a string id"
}

// cutText cuts s to at most n bytes, on valid UTF-8.
func cutText(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
