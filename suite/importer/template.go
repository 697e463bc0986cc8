package importer

import (
	"fmt"
	"math"
	"strings"

	"github.com/spectrumkit/spectrum/suite"
	"github.com/spectrumkit/spectrum/table"
)

// Fields says how one message (input or output) is made from a record:
// either the values of Columns, formatted as the reference's format_sample
// does (one column: Python str(value); several: json.dumps of {column: value}
// in the given order), or Template, a Python str.format-like text whose
// {column} fields are replaced by str(value) ({{ and }} are literal braces).
type Fields struct {
	Columns  []string
	Template string
}

// IsZero reports whether f makes no message.
func (f Fields) IsZero() bool { return len(f.Columns) == 0 && f.Template == "" }

// columns returns every column f reads.
func (f Fields) columns() ([]string, error) {
	if f.Template == "" {
		return f.Columns, nil
	}
	if len(f.Columns) > 0 {
		return nil, fmt.Errorf("give columns or a template, not both")
	}
	parts, err := parseTemplate(f.Template)
	if err != nil {
		return nil, err
	}
	var cols []string
	for _, p := range parts {
		if p.field {
			cols = append(cols, p.text)
		}
	}
	return cols, nil
}

func (f Fields) render(get func(col string) any) string {
	if f.Template != "" {
		parts, _ := parseTemplate(f.Template) // checked by columns
		var b strings.Builder
		for _, p := range parts {
			if p.field {
				b.WriteString(suite.PyStr(pyValue(get(p.text))))
			} else {
				b.WriteString(p.text)
			}
		}
		return b.String()
	}
	vals := make([]any, len(f.Columns))
	for i, c := range f.Columns {
		vals[i] = pyValue(get(c))
	}
	return suite.FormatSample(f.Columns, vals)
}

type templatePart struct {
	text  string
	field bool
}

// parseTemplate splits a str.format-like template into literal text and
// {column} fields.
func parseTemplate(s string) ([]templatePart, error) {
	var parts []templatePart
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '{':
			if i+1 < len(s) && s[i+1] == '{' {
				lit.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("template %q: unclosed { at byte %d (write {{ for a literal brace)", s, i)
			}
			name := s[i+1 : i+1+end]
			if name == "" {
				return nil, fmt.Errorf("template %q: empty {} at byte %d (name a column inside the braces)", s, i)
			}
			if lit.Len() > 0 {
				parts = append(parts, templatePart{text: lit.String()})
				lit.Reset()
			}
			parts = append(parts, templatePart{text: name, field: true})
			i += end + 1
		case '}':
			if i+1 < len(s) && s[i+1] == '}' {
				lit.WriteByte('}')
				i++
				continue
			}
			return nil, fmt.Errorf("template %q: single } at byte %d (write }} for a literal brace)", s, i)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, templatePart{text: lit.String()})
	}
	return parts, nil
}

// pyValue converts a table value to what suite's Python formatters take
// (objects become ordered PyDicts).
func pyValue(v any) any {
	switch x := v.(type) {
	case table.Object:
		d := make(suite.PyDict, len(x))
		for i, f := range x {
			d[i] = suite.PyItem{Key: f.Key, Value: pyValue(f.Value)}
		}
		return d
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pyValue(e)
		}
		return out
	}
	return v
}

// missing reports whether v is a missing value (null, or NaN as pandas
// stores missing numbers and CSV cells).
func missing(v any) bool {
	if v == nil {
		return true
	}
	f, ok := v.(float64)
	return ok && math.IsNaN(f)
}
