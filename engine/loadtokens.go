package engine

import "fmt"

// tokenWarnings says where the counted requests' output tokens are not what
// was asked or may be miscounted: fewer or more than max_tokens, no usage
// (counted from chunks: too low when a chunk carries several tokens), usage
// off the chunks' own counts by more than TokenMismatchTolerance.
func (lr *levelRun) tokenWarnings(reqs []loadReq) []string {
	var n, fewer, more, noUsage, mismatch, fewSum, fewAsked, mostOut, mostAsked int
	for i := range reqs {
		q := &reqs[i]
		if !q.ok || !lr.inWindow(q) {
			continue
		}
		n++
		switch {
		case q.out < q.asked:
			fewer, fewSum, fewAsked = fewer+1, fewSum+q.out, fewAsked+q.asked
		case q.out > q.asked:
			more++
			if q.out > mostOut {
				mostOut, mostAsked = q.out, q.asked
			}
		}
		if !q.usage {
			noUsage++
		} else if q.chunkTok >= 0 && abs(q.chunkTok-q.out) > max(1, int(TokenMismatchTolerance*float64(q.out))) {
			mismatch++
		}
	}
	var w []string
	if fewer > 0 {
		w = append(w, fmt.Sprintf("%d of %d requests got fewer output tokens than asked (%d of %d in all): the server stopped early; the throughputs count what it produced",
			fewer, n, fewSum, fewAsked))
	}
	if more > 0 {
		w = append(w, fmt.Sprintf("%d of %d requests got more output tokens than asked (up to %d for %d): the server ignored max_tokens",
			more, n, mostOut, mostAsked))
	}
	if noUsage > 0 {
		w = append(w, fmt.Sprintf("%d of %d requests reported no usage: their output tokens are counted from the chunks (too low, and TPOT too high, when a chunk carries several tokens)",
			noUsage, n))
	}
	if mismatch > 0 {
		w = append(w, fmt.Sprintf("%d of %d requests reported usage that disagrees with their chunks' own token counts: usage is counted", mismatch, n))
	}
	return w
}
