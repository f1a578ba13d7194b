// Command tinymodel writes a small GGUF model with seeded random weights for tests:
//
//	go run ./internal/testmodel/cmd/tinymodel -o tiny.gguf [-embd 128 -layers 4 ...]
//
// Zero flags take the defaults of package testmodel.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/typhonbench/typhon/internal/testmodel"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tinymodel:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tinymodel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg  testmodel.Config
		out  = fs.String("o", "", "output file (required)")
		seed = fs.Uint64("seed", 1, "seed of the random weights")
	)
	fs.IntVar(&cfg.Embd, "embd", testmodel.DefaultEmbd, "embedding width")
	fs.IntVar(&cfg.Layers, "layers", testmodel.DefaultLayers, "transformer blocks")
	fs.IntVar(&cfg.Heads, "heads", testmodel.DefaultHeads, "attention heads")
	fs.IntVar(&cfg.HeadsKV, "heads-kv", 0, "key/value heads (0: same as -heads)")
	fs.IntVar(&cfg.FF, "ff", testmodel.DefaultFF, "feed-forward width")
	fs.IntVar(&cfg.Context, "ctx", testmodel.DefaultContext, "training context length")
	fs.IntVar(&cfg.Words, "words", testmodel.DefaultWords, "whole words in the vocabulary (at least 40)")
	fs.StringVar(&cfg.Name, "name", testmodel.DefaultName, "general.name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("usage: tinymodel -o FILE [flags]")
	}
	cfg.Seed = *seed
	if err := testmodel.WriteFile(*out, cfg); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%.1f MB)\n", *out, float64(st.Size())/1e6)
	return nil
}
