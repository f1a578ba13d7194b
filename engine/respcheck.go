package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// responseError names what makes a response no stream to measure: a status
// other than 200 (the server's error), a body compressed although Typhon asks
// for none (it cannot be read as events), or an HTML page (a proxy's or a
// portal's, not an inference server's answer). nil for a response to read.
func responseError(resp *http.Response) (kind string, err error) {
	if resp.StatusCode != http.StatusOK {
		return "http_" + strconv.Itoa(resp.StatusCode), newServerError(resp)
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return schema.ErrKindBadResponse, fmt.Errorf("the server sent the stream with Content-Encoding %q, which Typhon does not ask for and cannot read",
			truncate(enc, 64))
	}
	ct := resp.Header.Get("Content-Type")
	if media, _, _ := mime.ParseMediaType(ct); media == "text/html" {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return schema.ErrKindBadResponse, fmt.Errorf("the server answered 200 with an HTML page (Content-Type %s), not a stream (a proxy or a login page?): %s",
			truncate(ct, 64), truncate(strings.Join(strings.Fields(string(head)), " "), 200))
	}
	return "", nil
}

// errorText extracts a readable message from an error body: the "error" or
// "message" of a JSON object, else the body.
func errorText(data []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &v) == nil {
		for _, raw := range []json.RawMessage{v.Error, v.Detail} {
			if len(raw) == 0 {
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return s
			}
			var obj struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
				return obj.Message
			}
			return string(raw)
		}
		if v.Message != "" {
			return v.Message
		}
	}
	return string(data)
}
