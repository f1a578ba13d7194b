package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// canaryPath is a path no server serves. It is asked with the first paths: a
// server that answers it with a 2xx answers every path (a catch-all web app, a
// mock), and an answer of another path identical to it says nothing about that
// path. Asking an unknown path makes no server compute.
const canaryPath = "/typhon-detect-no-such-path"

// errSameAsCanary marks an answer identical to the canary's: it is not read as
// the answer of the path asked.
var errSameAsCanary = errors.New("same answer as " + canaryPath + ", a path no server has")

// catchAllSource hides the answers that are the same as the canary's, so that
// a server answering every path alike never matches a rule whose "two answers
// that agree" would be one answer read twice.
type catchAllSource struct {
	src    source
	canary answer
}

// maskCatchAll wraps src when its canary answer is a 2xx; else src is returned.
func maskCatchAll(ctx context.Context, src source) source {
	c := src.get(ctx, canaryPath)
	if !c.ok() {
		return src
	}
	return catchAllSource{src: src, canary: c}
}

func (c catchAllSource) get(ctx context.Context, path string) answer {
	return c.mask(c.src.get(ctx, path))
}

func (c catchAllSource) post(ctx context.Context, path string, body []byte) answer {
	return c.mask(c.src.post(ctx, path, body))
}

func (c catchAllSource) mask(a answer) answer {
	if a.ok() && a.status == c.canary.status && bytes.Equal(a.body, c.canary.body) {
		a.err = errSameAsCanary
	}
	return a
}

// catchAllReason says why a server that answers every first path like the
// canary (those it answered, at least half) is not reported; "" when src is
// not masked or some path answered otherwise.
func catchAllReason(ctx context.Context, src source) string {
	c, ok := src.(catchAllSource)
	if !ok {
		return ""
	}
	alike := 0
	for _, path := range firstPaths {
		switch a := c.get(ctx, path); {
		case a.err == errSameAsCanary:
			alike++
		case a.status != 0 || a.err == nil:
			return "" // another answer
		}
		// else no answer (timed out under load, reset): says nothing
	}
	if alike < len(firstPaths)/2 {
		return ""
	}
	return fmt.Sprintf("answers every path alike (%s, a path no server has, answered the same %s): a catch-all, not an LLM API",
		canaryPath, c.canary.describe())
}
