package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// checkFiniteFlags refuses NaN and ±Inf in every floating-point flag the
// user set, naming the flag: no command has a use for them, and they would
// otherwise turn into empty completions or a result file that JSON cannot
// hold.
func checkFiniteFlags(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		switch f.Value.Type() {
		case "float32", "float64":
			if v, perr := strconv.ParseFloat(f.Value.String(), 64); perr == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				err = fmt.Errorf("--%s: want a finite number, got %s", f.Name, f.Value.String())
			}
		}
	})
	return err
}

// flagValueError matches pflag's message for a value its type cannot parse.
var flagValueError = regexp.MustCompile(`^invalid argument "(.*)" for "(.*?)" flag: strconv\.(Parse\w+): .*$`)

// flagError rewrites pflag's parse errors ("strconv.ParseUint: parsing …")
// into a sentence naming the flag and what it takes, and adds the usage
// hint.
func flagError(cmd *cobra.Command, err error) error {
	m := flagValueError.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	}
	name := m[2]
	if i := strings.Index(name, "--"); i >= 0 {
		name = name[i:]
	}
	want := "a number"
	switch m[3] {
	case "ParseUint":
		want = "a whole number ≥ 0"
	case "ParseInt":
		want = "a whole number"
	case "ParseBool":
		want = "true or false"
	}
	if strings.Contains(err.Error(), "value out of range") {
		want += " in range"
	}
	return fmt.Errorf("%s: want %s, got %q", name, want, m[1])
}

// checkRange refuses a value outside [lo, hi], naming the flag.
func checkRange(flag string, v, lo, hi float64) error {
	dash := "--"
	if len(flag) == 1 {
		dash = "-" // -n, as the help shows it
	}
	if v < lo || v > hi {
		switch {
		case math.IsInf(hi, 1):
			return fmt.Errorf("%s%s must be ≥ %g, got %g", dash, flag, lo, v)
		case math.IsInf(lo, -1):
			return fmt.Errorf("%s%s must be ≤ %g, got %g", dash, flag, hi, v)
		}
		return fmt.Errorf("%s%s must be in [%g, %g], got %g", dash, flag, lo, hi, v)
	}
	return nil
}

// checkSampling validates the sampling flags shared by generate and sample.
func checkSampling(temp, topP, minP float32, topK int) error {
	for _, c := range []error{
		checkRange("temp", float64(temp), 0, math.Inf(1)),
		checkRange("top-p", float64(topP), 0, 1),
		checkRange("min-p", float64(minP), 0, 1),
		checkRange("top-k", float64(topK), 0, math.Inf(1)),
	} {
		if c != nil {
			return c
		}
	}
	if topP == 0 {
		return fmt.Errorf("--top-p must be > 0 (1: off), got 0")
	}
	return nil
}
