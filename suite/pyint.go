package suite

import (
	"math"
	"math/big"
	"strings"
	"unicode"
)

// pyIsSpace is Python's str.isspace for one character: Unicode White_Space
// plus the information separators U+001C–U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip() without arguments.
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pyMaxStrDigits is Python's default sys.get_int_max_str_digits().
const pyMaxStrDigits = 4300

// pyInt parses s like Python's int(s): surrounding whitespace allowed (Unicode
// White_Space; unlike str.strip, int() does not skip U+001C–U+001F), an
// optional sign, decimal digits of any script (Unicode Nd), single underscores
// between digits, at most 4300 digits. ok is false where Python raises
// ValueError.
func pyInt(s string) (n *big.Int, ok bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var digits []byte
	prevUnderscore := true // no leading underscore
	for _, r := range s {
		if r == '_' {
			if prevUnderscore {
				return nil, false
			}
			prevUnderscore = true
			continue
		}
		d, isDigit := digitValue(r)
		if !isDigit {
			return nil, false
		}
		digits = append(digits, byte('0'+d))
		prevUnderscore = false
	}
	if len(digits) == 0 || prevUnderscore || len(digits) > pyMaxStrDigits {
		return nil, false
	}
	n, _ = new(big.Int).SetString(string(digits), 10)
	if neg {
		n.Neg(n)
	}
	return n, true
}

// digitValue returns the value of a Unicode decimal digit (category Nd).
func digitValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	// Every run of Nd characters in the Unicode tables starts at a zero and
	// consists of whole blocks of ten.
	for _, rg := range unicode.Nd.R16 {
		if uint16(r) >= rg.Lo && uint16(r) <= rg.Hi && r <= 0xffff {
			return int(uint16(r)-rg.Lo) % 10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if uint32(r) >= rg.Lo && uint32(r) <= rg.Hi {
			return int(uint32(r)-rg.Lo) % 10, true
		}
	}
	return 0, false
}

// refIsPrime is the reference's is_prime(n) (diverse_valid/tasks/
// prime_numbers.py), including its quirks: trial division by 2 and the odd
// numbers in [3, int(n**0.5)+1), where n**0.5 is computed in float64 (so a
// product of two primes just above a rounded-down square root is reported
// prime), and a number too large for a float64 raises OverflowError, which
// the task's validate turns into "invalid". ok is false for that case.
func refIsPrime(n *big.Int) (prime, ok bool) {
	if n.Cmp(big.NewInt(2)) < 0 {
		return false, true
	}
	if n.Cmp(big.NewInt(2)) == 0 {
		return true, true
	}
	if n.Bit(0) == 0 {
		return false, true
	}
	f, _ := new(big.Float).SetInt(n).Float64()
	if math.IsInf(f, 0) {
		return false, false // OverflowError in n**0.5
	}
	if n.ProbablyPrime(20) {
		return true, true
	}
	// n is odd and composite. Python finds its smallest prime factor p
	// (p ≤ isqrt(n)) unless p ≥ limit = int(sqrt(n)) + 1 with sqrt in float64.
	limit, _ := new(big.Float).SetFloat64(math.Sqrt(f)).Int(nil) // int() truncates
	limit.Add(limit, big.NewInt(1))
	isqrt := new(big.Int).Sqrt(n)
	if limit.Cmp(isqrt) > 0 {
		return false, true
	}
	// The window [limit, isqrt(n)] is tiny for any number a model can emit.
	// A divisor d there whose cofactor is prime too means n = d·e with both
	// primes ≥ limit: the loop finds nothing and Python says "prime".
	window := new(big.Int).Sub(isqrt, limit)
	if window.Cmp(big.NewInt(1<<20)) > 0 {
		return false, true
	}
	d := new(big.Int).Set(limit)
	if d.Bit(0) == 0 {
		// even candidates cannot divide an odd n
		d.Add(d, big.NewInt(1))
	}
	e, m := new(big.Int), new(big.Int)
	for ; d.Cmp(isqrt) <= 0; d.Add(d, big.NewInt(2)) {
		e.QuoRem(n, d, m)
		if m.Sign() == 0 {
			return d.ProbablyPrime(20) && e.ProbablyPrime(20), true
		}
	}
	return false, true
}
