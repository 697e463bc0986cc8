package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// llama.cpp spells some flags with multi-letter single-dash names (-ngl,
// -fa, -ctk, -ctv), which pflag cannot declare (a shorthand is one letter:
// "-ngl 0" would be read as "-n gl"). rewriteLlamaArgs turns them into their
// long names before cobra parses, and --lora-scaled FILE SCALE (two values)
// into --lora FILE:SCALE. Nothing after "--" is touched.
var llamaMultiShort = map[string]string{
	"-ngl": "--n-gpu-layers",
	"-fa":  "--flash-attn",
	"-ctk": "--cache-type-k",
	"-ctv": "--cache-type-v",
}

func rewriteLlamaArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, value, hasValue := strings.Cut(a, "=")
		if long, ok := llamaMultiShort[name]; ok {
			switch {
			case hasValue:
				out = append(out, long+"="+value)
			case name == "-fa" && (i+1 >= len(args) || !isFlashValue(args[i+1])):
				out = append(out, long+"=on") // llama.cpp's older boolean -fa
			default:
				out = append(out, long)
			}
			continue
		}
		if a == "--lora-scaled" && i+2 < len(args) {
			out = append(out, "--lora", args[i+1]+":"+args[i+2])
			i += 2
			continue
		}
		out = append(out, a)
	}
	return out
}

func isFlashValue(s string) bool { return s == "on" || s == "off" || s == "auto" }

// globalAliases are llama.cpp's names of the global flags.
var globalAliases = map[string]string{"n-gpu-layers": "gpu-layers"}

// commandAliases holds each command's aliases by its flag set (cobra sets
// one normalization function on every command; it looks here).
var commandAliases = map[*pflag.FlagSet]map[string]string{}

// setAliases makes cmd accept llama.cpp's long names for its flags (alias →
// our name), beside the global ones. pflag normalizes names, so an alias
// parses exactly as the flag it stands for.
func setAliases(cmd *cobra.Command, aliases map[string]string) {
	commandAliases[cmd.Flags()] = aliases
}

// normalizeFlag is the root's global normalization function.
func normalizeFlag(f *pflag.FlagSet, name string) pflag.NormalizedName {
	if to, ok := commandAliases[f][name]; ok {
		return pflag.NormalizedName(to)
	}
	if to, ok := globalAliases[name]; ok {
		return pflag.NormalizedName(to)
	}
	return pflag.NormalizedName(name)
}

// addModelFlag adds -m/--model, llama.cpp's way to name the model: it takes
// the place of the first positional argument.
func addModelFlag(cmd *cobra.Command, model *string) {
	cmd.Flags().StringVarP(model, "model", "m", "", "the model GGUF (instead of the first argument, as llama.cpp's -m)")
}

// modelArgs is cobra's ExactArgs(n) where -m/--model may stand for the
// first argument; the usage line is printed with a missing argument.
func modelArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		want := n
		if f := cmd.Flags().Lookup("model"); f != nil && f.Changed {
			want = n - 1
		}
		if len(args) != want {
			return usageError(cmd, fmt.Sprintf("want %s, got %d argument(s)", what, len(args)))
		}
		return nil
	}
}

// withModel returns the arguments with -m/--model put first where given.
func withModel(model string, args []string) []string {
	if model == "" {
		return args
	}
	return append([]string{model}, args...)
}

// usageError is an argument error that carries the command's usage line.
func usageError(cmd *cobra.Command, msg string) error {
	return fmt.Errorf("%s\nusage: %s (see %s --help)", msg, cmd.UseLine(), cmd.CommandPath())
}

// exactArgs is cobra.ExactArgs with the usage line in the error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError(cmd, fmt.Sprintf("want %s, got %d argument(s)", what, len(args)))
		}
		return nil
	}
}

// readPrompt reads a prompt from a file, or from stdin for "-" (llama.cpp's
// -f/--file).
func readPrompt(path string, stdin io.Reader) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("--file %s: %w", path, err)
	}
	return string(b), nil
}

// kvTypeFlags resolves --kv-type with llama.cpp's --cache-type-k/-v (-ctk,
// -ctv): spectrum keeps K and V in one type, so they must agree.
func kvTypeFlags(kv, k, v string) (string, error) {
	for _, x := range []string{k, v} {
		if x == "" {
			continue
		}
		if kv != "" && x != kv {
			return "", fmt.Errorf("--cache-type-k/-v and --kv-type differ (%s, %s): spectrum keeps K and V in one type", x, kv)
		}
		kv = x
	}
	return kv, nil
}

// noArgs is cobra.NoArgs with the usage line in the error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(cmd, fmt.Sprintf("%s takes no arguments, got %q", cmd.CommandPath(), args))
	}
	return nil
}
