package suite

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file reproduces the Python formatting the reference uses for message
// contents and descriptions: str()/repr() of floats, ints, strings, lists and
// dicts, f"{x:.Nf}" / f"{x:.Ne}", NumPy rounding and json.dumps.

// PyDict is an insertion-ordered Python dict, for PyStr and PyJSON.
type PyDict []PyItem

// PyItem is one key/value pair of a PyDict.
type PyItem struct {
	Key   any
	Value any
}

// PyFloat formats x like Python's repr(float) / str(float): the shortest
// round-tripping digits, fixed notation for 1e-4 ≤ |x| < 1e16 (always with a
// fractional part, "3.0"), otherwise scientific with a two-digit exponent
// ("1e-05", "1.5e+16"); "nan", "inf", "-inf".
func PyFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	case x == 0:
		if math.Signbit(x) {
			return "-0.0"
		}
		return "0.0"
	}
	s := strconv.FormatFloat(x, 'e', -1, 64) // d.ddde±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if exp >= -4 && exp < 16 {
		decpt := exp + 1 // digits before the point
		switch {
		case decpt <= 0:
			return sign + "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			return sign + digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			return sign + digits[:decpt] + "." + digits[decpt:]
		}
	}
	out := sign + digits[:1]
	if len(digits) > 1 {
		out += "." + digits[1:]
	}
	es := "+"
	if exp < 0 {
		es, exp = "-", -exp
	}
	return fmt.Sprintf("%se%s%02d", out, es, exp)
}

// pyFixed formats like Python f"{x:.{prec}f}".
func pyFixed(x float64, prec int) string {
	if s, ok := pyNonFinite(x); ok {
		return s
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// pyExp formats like Python f"{x:.{prec}e}".
func pyExp(x float64, prec int) string {
	if s, ok := pyNonFinite(x); ok {
		return s
	}
	return strconv.FormatFloat(x, 'e', prec, 64)
}

func pyNonFinite(x float64) (string, bool) {
	switch {
	case math.IsNaN(x):
		return "nan", true
	case math.IsInf(x, 1):
		return "inf", true
	case math.IsInf(x, -1):
		return "-inf", true
	}
	return "", false
}

// npRound is NumPy's round(x, decimals) for decimals ≥ 0 (also what Python's
// round() does on a numpy.float64): rint(x·10^d)/10^d, ties to even.
func npRound(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.RoundToEven(x*p) / p
}

// PyStr formats v like Python's str(v). Supported: string, bool, nil, all Go
// integer types, float32/64, []string, []any, []int, []float64 and PyDict.
// Containers format their elements with repr, as Python does.
func PyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return PyRepr(v)
}

// PyRepr formats v like Python's repr(v); see PyStr for the supported types.
func PyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		return pyStrRepr(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case float64:
		return PyFloat(x)
	case float32:
		return PyFloat(float64(x))
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyStrRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []int:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = strconv.Itoa(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []float64:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = PyFloat(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = PyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case PyDict:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = PyRepr(it.Key) + ": " + PyRepr(it.Value)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// pyStrRepr is Python's repr(str): single quotes unless the string contains
// a single quote and no double quote; backslash escapes for the quote, \\,
// \t, \n, \r and non-printable characters.
func pyStrRepr(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case !unicode.IsPrint(r) || r == utf8.RuneError:
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// PyJSON formats v like Python's json.dumps(v) with the default arguments:
// separators ", " and ": ", ensure_ascii=True (every character outside
// printable ASCII becomes \uXXXX, astral characters as surrogate pairs), float
// repr, NaN/Infinity/-Infinity, and PyDict key order. Keys that are not
// strings are converted as json.dumps does (ints and floats to their str,
// bools to "true"/"false", None to "null").
func PyJSON(v any) string {
	var b strings.Builder
	pyJSON(&b, v)
	return b.String()
}

func pyJSON(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		pyJSONString(b, x)
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString("NaN")
		case math.IsInf(x, 1):
			b.WriteString("Infinity")
		case math.IsInf(x, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(PyFloat(x))
		}
	case float32:
		pyJSON(b, float64(x))
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			pyJSONString(b, e)
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			pyJSON(b, e)
		}
		b.WriteByte(']')
	case PyDict:
		b.WriteByte('{')
		for i, it := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			var key string
			switch k := it.Key.(type) {
			case string:
				key = k
			case nil:
				key = "null"
			case bool:
				key = strconv.FormatBool(k)
			default:
				key = PyStr(k)
			}
			pyJSONString(b, key)
			b.WriteString(": ")
			pyJSON(b, it.Value)
		}
		b.WriteByte('}')
	default:
		b.WriteString(PyRepr(v)) // integers
	}
}

func pyJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r < 0x7f:
				b.WriteRune(r)
			case r > 0xffff:
				r -= 0x10000
				fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			default:
				fmt.Fprintf(b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
}

// FormatSample formats one sample's variables as a message content, like the
// reference's format_sample: a single variable is str(value); several are
// json.dumps of {name: value} in the given (declared) order.
func FormatSample(names []string, values []any) string {
	if len(names) != len(values) {
		panic("suite.FormatSample: names and values differ in length")
	}
	if len(names) == 1 {
		return PyStr(values[0])
	}
	d := make(PyDict, len(names))
	for i := range names {
		d[i] = PyItem{names[i], values[i]}
	}
	return PyJSON(d)
}
