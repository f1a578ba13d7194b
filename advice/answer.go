package advice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/typhonbench/typhon/internal/sse"
)

// chunk is what an OpenAI-style stream event carries that Ask reads.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
			Refusal string `json:"refusal"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Error json.RawMessage `json:"error"`
}

// completion is a whole (not streamed) chat completion.
type completion struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
			Refusal string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Error json.RawMessage `json:"error"`
}

// writeError is a failure to write the answer out, not the server's.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// readBound is how many bytes of a response Ask reads for an answer of at
// most max bytes: room for the JSON around each piece, then it stops.
func readBound(max int) int64 { return 8*int64(max) + 256<<10 }

// errOverBound is returned when a response passes readBound.
var errOverBound = errors.New("over budget")

// boundedReader fails with errOverBound past n bytes.
type boundedReader struct {
	r io.Reader
	n int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errOverBound
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// readResponse reads the answer of a 200: an event stream, or a whole JSON
// completion from a server that does not stream; anything else (an HTML
// page) is an error that quotes it.
func readResponse(resp *http.Response, w io.Writer, max int) (string, error) {
	body := &boundedReader{r: resp.Body, n: readBound(max)}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch ct {
	case "text/event-stream", "":
		a, err := readAnswer(body, w, max)
		if errors.Is(err, errOverBound) {
			err = fmt.Errorf("the server sent %d bytes without finishing an answer of at most %d bytes: stopped", readBound(max), max)
		}
		return a, err
	case "application/json":
		return readCompletion(body, w, max)
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return "", fmt.Errorf("answered %s, not an event stream: %q", ct, strings.TrimSpace(string(head)))
}

// readCompletion reads a whole chat completion.
func readCompletion(body io.Reader, w io.Writer, max int) (string, error) {
	var c completion
	if err := json.NewDecoder(body).Decode(&c); err != nil {
		return "", fmt.Errorf("not a chat completion: %v", err)
	}
	if len(c.Error) > 0 && string(c.Error) != "null" {
		return "", fmt.Errorf("error: %.500s", c.Error)
	}
	if len(c.Choices) == 0 {
		return "", errors.New("a chat completion without choices")
	}
	ch := c.Choices[0]
	if err := refusal(ch.Message.Content, ch.Message.Refusal, ch.FinishReason); err != nil {
		return "", err
	}
	content := printable(ch.Message.Content)
	a := strings.ToValidUTF8(content[:min(len(content), max)], "")
	if w != nil {
		if _, err := io.WriteString(w, a); err != nil {
			return a, writeError{err}
		}
	}
	return a, nil
}

// refusal is the error of an answer the model refused or a filter stopped.
func refusal(content, refused, finish string) error {
	switch {
	case strings.TrimSpace(refused) != "":
		return fmt.Errorf("the model refused: %.500s", refused)
	case finish == "content_filter" && strings.TrimSpace(content) == "":
		return errors.New("the answer was stopped by the server's content filter (finish_reason content_filter)")
	}
	return nil
}

// readAnswer reads the stream's content until [DONE], its end, or max bytes.
func readAnswer(body io.Reader, w io.Writer, max int) (string, error) {
	var b, refused strings.Builder
	finish := ""
	r := sse.NewReader(body)
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) || err == nil && string(bytes.TrimSpace(ev.Data)) == "[DONE]" {
			return b.String(), refusal(b.String(), refused.String(), finish)
		}
		if err != nil {
			return b.String(), err
		}
		data := bytes.TrimSpace(ev.Data)
		var c chunk
		if err := json.Unmarshal(data, &c); err != nil {
			return b.String(), fmt.Errorf("not a chat completion chunk: %.200s", printable(string(data)))
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			return b.String(), fmt.Errorf("error in the stream: %.500s", c.Error)
		}
		for _, ch := range c.Choices {
			if refused.Len() < 1000 {
				refused.WriteString(ch.Delta.Refusal)
			}
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
			piece := printable(ch.Delta.Content)
			if room := max - b.Len(); len(piece) > room {
				piece = piece[:room]
			}
			b.WriteString(piece)
			if w != nil && piece != "" {
				if _, err := io.WriteString(w, piece); err != nil {
					return b.String(), writeError{err}
				}
			}
		}
		if b.Len() >= max {
			return strings.ToValidUTF8(b.String(), ""), nil
		}
	}
}

// printable is s without control characters other than newline and tab (C0,
// DEL, C1): an answer goes to a terminal, where ESC sequences could rewrite
// the screen, the title or the clipboard.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r >= 0x20 && r < 0x7f || r > 0x9f {
			return r
		}
		return -1
	}, s)
}
