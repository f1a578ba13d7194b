package engine

import (
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
