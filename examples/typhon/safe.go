package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/typhonbench/typhon"
)

// maxShownName bounds a name from a server or a record in a table or summary.
const maxShownName = 120

// escaper writes what it is given with every control character but newline,
// tab and carriage return written as \u00XX, so that a name or an error from a
// server or a record cannot move the cursor, set the title or hide text (ANSI
// and OSC escapes). The form is also a valid escape inside a JSON string.
type escaper struct{ w io.Writer }

func (e escaper) Write(p []byte) (int, error) {
	clean := true
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if control(r) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return e.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if control(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, p[i:i+n]...)
		}
		i += n
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Unwrap gives the writer underneath (isTerminal looks through it).
func (e escaper) Unwrap() io.Writer { return e.w }

func control(r rune) bool {
	switch r {
	case '\n', '\t', '\r':
		return false
	}
	return r < 0x20 || (r >= 0x7f && r <= 0x9f)
}

// shown cuts a name to maxShownName bytes for display.
func shown[S ~string](s S) string { return cutTo(string(s), maxShownName) }

// maxShownError bounds an error text of a record in a summary.
const maxShownError = 1024

func cutTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// tame cuts the names a record holds for display (a record on disk may come
// from an older version or another tool).
func tame(res *typhon.Result) {
	res.Model = shown(res.Model)
	res.Server.Name = shown(res.Server.Name)
	res.Server.Version = shown(res.Server.Version)
	res.Server.Kind = typhon.Kind(shown(res.Server.Kind))
	res.Server.Quantization = shown(res.Server.Quantization)
	res.Server.APIBase = shown(res.Server.APIBase)
	res.Error = cutTo(res.Error, maxShownError)
	for i := range res.Benchmarks {
		b := &res.Benchmarks[i]
		b.Error = cutTo(b.Error, maxShownError)
		for j := range b.Runs {
			b.Runs[j].Error = cutTo(b.Runs[j].Error, maxShownError)
		}
	}
}

// apiKeyFlags defines -api-key and -api-key-file on fs and returns the key they
// give: the flag's value, or the file's content without its surrounding white
// space (both given is an error of the command line).
func apiKeyFlags(fs *flag.FlagSet) *string {
	key := fs.String("api-key", "", "bearer token for the server (default $TYPHON_API_KEY; never stored; visible in the process list: prefer -api-key-file or the environment)")
	fs.Func("api-key-file", "read the server's bearer token from this file", func(file string) error {
		if *key != "" {
			return errors.New("both -api-key and -api-key-file given")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if *key = strings.TrimSpace(string(b)); *key == "" {
			return fmt.Errorf("%s is empty", file)
		}
		return nil
	})
	return key
}

// orEnvKey is the API key, else $TYPHON_API_KEY: read here, not as the flag's
// default, so that -h never prints it.
func orEnvKey(key string) string {
	if key == "" {
		return os.Getenv("TYPHON_API_KEY")
	}
	return key
}

// orDefaultData is -data with "" meaning the default directory.
func orDefaultData(dir string) string {
	if dir == "" {
		return typhon.DefaultDataDir()
	}
	return dir
}
