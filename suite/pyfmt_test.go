package suite

import (
	"math"
	"testing"
)

// Expected strings below were printed by CPython 3.
func TestPyFloat(t *testing.T) {
	hundred, tenThousandth := 100.0, 1e-4 // runtime float64 products, not exact constants
	tests := []struct {
		in   float64
		want string
	}{
		{0.1, "0.1"},
		{1e16, "1e+16"},
		{1e15, "1000000000000000.0"},
		{123.0, "123.0"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1.5e-7, "1.5e-07"},
		{-2.18, "-2.18"},
		{1.0 / 3, "0.3333333333333333"},
		{2.5e22, "2.5e+22"},
		{1234567890123456.7, "1234567890123456.8"},
		{0.707285033975695, "0.707285033975695"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.Copysign(0, -1), "-0.0"},
		{hundred * 0.293, "29.299999999999997"},
		{tenThousandth * 3, "0.00030000000000000003"},
		{math.NaN(), "nan"},
		{math.Inf(-1), "-inf"},
	}
	for _, tt := range tests {
		if got := PyFloat(tt.in); got != tt.want {
			t.Errorf("PyFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPyFixedAndExp(t *testing.T) {
	tests := []struct{ got, want string }{
		{pyFixed(-1e-9, 3), "-0.000"},
		{pyFixed(0.125, 2), "0.12"}, // exact tie: half to even, as Python
		{pyExp(1234.5, 4), "1.2345e+03"},
		{pyExp(1e100, 2), "1.00e+100"},
		{pyExp(math.Copysign(0, -1), 4), "-0.0000e+00"},
		{pyFixed(2.5, 0), "2"},
		{pyFixed(math.Inf(1), 2), "inf"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestPyReprAndJSON(t *testing.T) {
	if got, want := PyRepr([]string{"Heads", "it's", `a"b`, `x'y"z`, "tab\t", "♥"}),
		`['Heads', "it's", 'a"b', 'x\'y"z', 'tab\t', '♥']`; got != want {
		t.Errorf("PyRepr list = %s, want %s", got, want)
	}
	d := PyDict{
		{"a", "héllo \U0001F600 \x7f \"q\" \\"},
		{"b", []any{1, 2.5, nil, true}},
		{"c", math.NaN()},
		{"d", PyDict{{1, 2}}},
	}
	want := `{"a": "h\u00e9llo \ud83d\ude00 \u007f \"q\" \\", "b": [1, 2.5, null, true], "c": NaN, "d": {"1": 2}}`
	if got := PyJSON(d); got != want {
		t.Errorf("PyJSON = %s\nwant        %s", got, want)
	}
	if got, want := PyStr(PyDict{{0, 0.1234}, {1, 0.8766}}), "{0: 0.1234, 1: 0.8766}"; got != want {
		t.Errorf("PyStr(dict) = %s, want %s", got, want)
	}
	if got, want := PyStr(PyDict{{"Heads", "37.5%"}}), "{'Heads': '37.5%'}"; got != want {
		t.Errorf("PyStr(dict) = %s, want %s", got, want)
	}
}

func TestFormatSample(t *testing.T) {
	tests := []struct {
		names  []string
		values []any
		want   string
	}{
		{[]string{"x"}, []any{-2.18}, "-2.18"},
		{[]string{"x"}, []any{3.0}, "3.0"},
		{[]string{"x"}, []any{true}, "True"},
		{[]string{"x"}, []any{"Ünïcode stays"}, "Ünïcode stays"},
		{[]string{"x"}, []any{int64(42)}, "42"},
		// declared order, not sorted; ensure_ascii; default separators
		{[]string{"zeta", "alpha"}, []any{"café", 7}, `{"zeta": "caf\u00e9", "alpha": 7}`},
		{[]string{"q", "opts"}, []any{"a\nb", []string{"x", "y"}}, `{"q": "a\nb", "opts": ["x", "y"]}`},
	}
	for _, tt := range tests {
		if got := FormatSample(tt.names, tt.values); got != tt.want {
			t.Errorf("FormatSample(%v, %v) = %q, want %q", tt.names, tt.values, got, tt.want)
		}
	}
}

func TestNPRound(t *testing.T) {
	tests := []struct {
		x    float64
		d    int
		want float64
	}{
		{0.375, 3, 0.375},
		{0.12345, 4, 0.1234}, // x·1e4 rounds to 1234.5 → 1234 (Python's own round gives 0.1235)
		{0.00005, 4, 0},
		{2.5, 0, 2},
		{0.58, 3, 0.58},
	}
	for _, tt := range tests {
		if got := npRound(tt.x, tt.d); got != tt.want {
			t.Errorf("npRound(%v, %d) = %v, want %v", tt.x, tt.d, got, tt.want)
		}
	}
}
