// Package record compares the settings records that resumable outputs keep
// (a tune checkpoint's run, a sample file's settings), so that a resume
// refuses to mix two runs and says how they differ.
package record

import (
	"fmt"
	"maps"
	"slices"
)

// Diff lists the keys of saved and now whose values differ, in key order,
// as "NAME: <was> "a", this run "b"": name gives a key's name for the user
// (nil: the key), free says which keys may differ (nil: none).
func Diff(saved, now map[string]string, was string, name func(string) string, free func(string) bool) []string {
	keys := map[string]bool{}
	for k := range saved {
		keys[k] = true
	}
	for k := range now {
		keys[k] = true
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if saved[k] == now[k] || (free != nil && free(k)) {
			continue
		}
		n := k
		if name != nil {
			n = name(k)
		}
		out = append(out, fmt.Sprintf("%s: %s %q, this run %q", n, was, saved[k], now[k]))
	}
	return out
}
