package suite

import (
	"math/big"
	"strings"
	"testing"
)

func TestPyInt(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = ValueError
	}{
		{"42", "42"},
		{" 42 ", "42"},
		{"42\n", "42"},
		{"+7", "7"},
		{"-1", "-1"},
		{"1_009", "1009"},
		{"007", "7"},
		{"\u0663\u0664", "34"}, // Arabic-Indic digits
		{"\uff11\uff10", "10"}, // fullwidth digits
		{"\U0001D7D9", "1"},    // mathematical double-struck one
		{"\x1c5\x1f", ""},      // str.strip() removes U+001C…U+001F, int() does not
		{"\u00a05\u3000", "5"}, // but other Unicode whitespace is fine
		{"\u00855", "5"},       // NEL
		{"1__0", ""},
		{"_1", ""},
		{"1_", ""},
		{"0x42", ""},
		{"1.5", ""},
		{"", ""},
		{"   ", ""},
		{"+", ""},
		{"- 1", ""},
		{"one", ""},
		{strings.Repeat("1", 4300), strings.Repeat("1", 4300)},
		{strings.Repeat("1", 4301), ""}, // sys.get_int_max_str_digits()
	}
	for _, tt := range tests {
		n, ok := pyInt(tt.in)
		switch {
		case tt.want == "" && ok:
			t.Errorf("pyInt(%q) = %v, want ValueError", tt.in, n)
		case tt.want != "" && (!ok || n.String() != tt.want):
			t.Errorf("pyInt(%q) = %v, %v; want %s", tt.in, n, ok, tt.want)
		}
	}
}

func TestRefIsPrime(t *testing.T) {
	mk := func(s string) *big.Int { n, _ := new(big.Int).SetString(s, 10); return n }
	tests := []struct {
		n      string
		prime  bool
		parsed bool
	}{
		{"2", true, true}, {"3", true, true}, {"1", false, true}, {"0", false, true}, {"-7", false, true},
		{"9", false, true}, {"25", false, true}, {"121", false, true}, {"617", true, true},
		{"1009", true, true}, {"1000000007", true, true}, {"1000000007000000049", false, true},
		// Reference quirk: p = 11131431045313597 is prime, int(float(p*p)**0.5)+1 == p, so the
		// reference's trial division never tries p and calls p*p prime (CPython confirms the bound).
		{"123908757116571358787936073078409", true, true},
		// ...but a small factor is still found.
		{"371726271349714076363808219235227", false, true},
		// Too large for float(n)**0.5: OverflowError → invalid.
		{"1" + strings.Repeat("0", 399) + "1", false, false},
		{"1" + strings.Repeat("0", 400), false, true}, // even: rejected before the square root
	}
	for _, tt := range tests {
		prime, ok := refIsPrime(mk(tt.n))
		if prime != tt.prime || ok != tt.parsed {
			t.Errorf("refIsPrime(%s) = %v, %v; want %v, %v", tt.n, prime, ok, tt.prime, tt.parsed)
		}
	}
}
