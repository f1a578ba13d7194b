package engine

import "time"

// blankEvent records a chunk whose text is present but empty, without a role: a
// token that decoded to nothing (vLLM past the end of text with ignore_eos, a
// special token). With a count it is a token when the count advanced; without
// one it is taken for a token chunk of unknown size.
func (m *measurement) blankEvent(at time.Time, cum int) {
	if cum >= 0 {
		m.tokenEvent(at, false, false, cum)
		return
	}
	m.tokenEvent(at, true, false, -1)
}

// setCached records the cached prompt tokens a chunk reported, reusing the
// figure's storage from chunk to chunk.
func (m *measurement) setCached(v int) {
	if m.cached == nil {
		m.cached = new(int)
	}
	*m.cached = v
}

// isBlank reports a choice whose text is present but empty, with no role and no
// finish: a generated token that decoded to nothing.
func isBlank(role, content, text, finish *string) bool {
	if role != nil || nonEmpty(finish) {
		return false
	}
	return (content != nil && *content == "") || (text != nil && *text == "")
}

// choices reads what a chunk's choices carry: generated text of any kind, visible
// content, a blank token (see isBlank); it records the finish reason.
func (m *measurement) choices(c *chatChunk) (isToken, isContent, blank bool) {
	for _, ch := range c.Choices {
		d := ch.Delta
		if nonEmpty(d.Content) || nonEmpty(ch.Text) {
			isToken, isContent = true, true
		}
		blank = blank || isBlank(d.Role, d.Content, ch.Text, ch.FinishReason)
		if nonEmpty(d.ReasoningContent) || nonEmpty(d.Reasoning) || (len(d.ToolCalls) > 0 && string(d.ToolCalls) != "null") {
			isToken = true
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			m.finish = *ch.FinishReason
		}
	}
	return isToken, isContent, blank
}
