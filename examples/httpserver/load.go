package main

import (
	"fmt"
	"net/url"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
)

// loadOptions reads the load parameters of POST /jobs/run (engine.LoadParams):
// the options of a mode=load job; an error for a parameter given twice, or given
// with another mode, or that makes no sense.
func loadOptions(q url.Values, mode string) (engine.LoadOptions, error) {
	for _, name := range engine.LoadParams {
		switch n := len(q[name]); {
		case n > 1:
			return engine.LoadOptions{}, fmt.Errorf("%w: %s given %d times", errBadRequest, name, n)
		case n == 1 && mode != typhon.ModeLoad:
			return engine.LoadOptions{}, fmt.Errorf("%w: %s is a parameter of mode=load, not of mode=%s", errBadRequest, name, mode)
		}
	}
	return engine.ParseLoadParams(q.Get)
}
