package suite

import (
	"math/big"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// The offline diversity/validity ("coverage") tasks of the reference
// (diverse_valid/tasks/*.py, reference §5.2 and §6.2). Each validator has the
// reference's exact semantics, quirks included: Python int() parsing (a sign,
// underscores between digits, Unicode digits, surrounding whitespace where the
// reference does not reject it first), Python's \d and \s (Unicode digits and
// whitespace), case-sensitive or -insensitive membership as in the reference.

// US states and their USPS codes (us_states.py).
var usStates = []string{
	"Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
	"Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky",
	"Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi",
	"Missouri", "Montana", "Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico",
	"New York", "North Carolina", "North Dakota", "Ohio", "Oklahoma", "Oregon", "Pennsylvania",
	"Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas", "Utah", "Vermont",
	"Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming",
}

var usStateCodes = []string{
	"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
	"KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
	"NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
	"WI", "WY",
}

// USStates returns the 50 US state names (sorted).
func USStates() []string { return append([]string(nil), usStates...) }

// Weekday lists of weekdays.py.
var (
	weekdaysFull = []string{
		"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
		"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY",
		"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
	}
	weekdaysAbbreviated = []string{
		"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
		"Mon.", "Tue.", "Wed.", "Thu.", "Fri.", "Sat.", "Sun.",
		"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN",
	}
	weekdaysSingleLetter = []string{"M", "T", "W", "Th", "F", "Sa", "Su"}
)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func inclusion(set []string) func(string) bool {
	return func(s string) bool { return slices.Contains(set, s) }
}

// validateNumber1To100 is rng_1_100's validate_number_1_100.
func validateNumber1To100(text string) bool {
	if text != pyStrip(text) {
		return false
	}
	if strings.HasPrefix(text, "0") && utf8.RuneCountInString(text) > 1 {
		return false
	}
	n, ok := pyInt(text)
	return ok && n.Cmp(big.NewInt(1)) >= 0 && n.Cmp(big.NewInt(100)) <= 0
}

// validateSeed is random_seed's is_valid_seed: int(x) in [0, 2**32).
func validateSeed(text string) bool {
	n, ok := pyInt(text)
	return ok && n.Sign() >= 0 && n.Cmp(new(big.Int).Lsh(big.NewInt(1), 32)) < 0
}

// validatePrime is prime_numbers' validate_prime_number.
func validatePrime(text string) bool {
	if text != pyStrip(text) {
		return false
	}
	if strings.HasPrefix(text, "0") && utf8.RuneCountInString(text) > 1 {
		return false
	}
	n, ok := pyInt(text)
	if !ok {
		return false
	}
	prime, ok := refIsPrime(n)
	return ok && prime
}

// validateSmallPrime is validate_small_prime: a valid prime below 100.
func validateSmallPrime(text string) bool {
	if !validatePrime(text) {
		return false
	}
	n, ok := pyInt(text)
	return ok && n.Cmp(big.NewInt(100)) < 0
}

var emailPattern = regexp.MustCompile(`^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`)

// validateBasicEmail is emails.py's validate_basic_email.
func validateBasicEmail(text string) bool {
	text = pyStrip(text)
	if !emailPattern.MatchString(text) {
		return false
	}
	parts := strings.Split(text, "@")
	if len(parts) != 2 {
		return false
	}
	local, domain := parts[0], parts[1]
	if n := utf8.RuneCountInString(local); n == 0 || n > 64 {
		return false
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return false
	}
	if n := utf8.RuneCountInString(domain); n == 0 || n > 255 {
		return false
	}
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return false
	}
	return true
}

// validateProfessionalEmail is validate_professional_email: a basic email
// whose domain ends with .com, .org, .edu or .gov (its extra list of
// "professional domains" all end so too).
func validateProfessionalEmail(text string) bool {
	if !validateBasicEmail(text) {
		return false
	}
	domain := strings.Split(strings.ToLower(pyStrip(text)), "@")[1]
	for _, tld := range []string{".com", ".org", ".edu", ".gov"} {
		if strings.HasSuffix(domain, tld) {
			return true
		}
	}
	return false
}

// Python's \d and \s in str patterns are Unicode-aware.
const (
	pyDigit = `\p{Nd}`
	pySpace = `[\t\n\v\f\r \x1c-\x1f\x{85}\p{Z}]`
)

var usPhonePatterns = []*regexp.Regexp{
	regexp.MustCompile(`^` + pyDigit + `{3}-` + pyDigit + `{3}-` + pyDigit + `{4}$`),
	regexp.MustCompile(`^\(` + pyDigit + `{3}\) ` + pyDigit + `{3}-` + pyDigit + `{4}$`),
	regexp.MustCompile(`^` + pyDigit + `{3} ` + pyDigit + `{3} ` + pyDigit + `{4}$`),
}

// validateUSPhone is validate_us_phone_number: XXX-XXX-XXXX, (XXX) XXX-XXXX or
// XXX XXX XXXX. (The task's own example "646 562-1938" matches none.)
func validateUSPhone(text string) bool {
	text = pyStrip(text)
	for _, p := range usPhonePatterns {
		if p.MatchString(text) {
			return true
		}
	}
	return false
}

var (
	intlPhonePattern = regexp.MustCompile(`^\+` + pyDigit + `{1,3}(?:[-` + pySpace[1:len(pySpace)-1] + `]?` + pyDigit + `+)+$`)
	nonDigit         = regexp.MustCompile(`[^` + pyDigit + `]`)
)

// validateInternationalPhone is validate_international_phone.
func validateInternationalPhone(text string) bool {
	text = pyStrip(text)
	if !strings.HasPrefix(text, "+") {
		return false
	}
	digits := utf8.RuneCountInString(nonDigit.ReplaceAllString(text[1:], ""))
	if digits < 7 || digits > 15 {
		return false
	}
	if !intlPhonePattern.MatchString(text) {
		return false
	}
	return strings.Count(text, " ")+strings.Count(text, "-") <= 6
}

func validateElementSymbol(text string) bool {
	if text != pyStrip(text) {
		return false
	}
	for _, e := range elements {
		if e.Symbol == text {
			return true
		}
	}
	return false
}

func validateElementName(text string) bool {
	if text != pyStrip(text) {
		return false
	}
	lower := strings.ToLower(text)
	for _, e := range elements {
		if strings.ToLower(e.Name) == lower {
			return true
		}
	}
	return false
}

// coverageGen makes rows of the prompt in the reference's "both" condition
// (the description and the three examples).
func coverageGen(t *Task, seed int64, rows int, _ float64) ([]Row, error) {
	out := make([]Row, rows)
	for i := range out {
		out[i] = Row{Task: t.Name, Messages: t.CoverageMessages(true, true), Seed: seed, Index: i,
			N: len(t.Examples), IncludeDescription: true}
		if err := out[i].SetExtra("max_new_tokens", t.MaxNewTokens); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func init() {
	cov := func(name, src, desc string, examples []string, maxNew int, set []string, validate func(string) bool) {
		if validate == nil {
			validate = inclusion(set)
		}
		register(&Task{Name: name, Kind: KindCoverage, Offline: true, DefaultRows: 1,
			Source: "diverse_valid/tasks/" + src, Summary: desc, Descriptions: []string{desc},
			Examples: examples, MaxNewTokens: maxNew, ValidSet: set, validate: validate, gen: coverageGen})
	}
	digits := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
	cov("rng_1_10", "rng.py", "Generate a number between 1 and 10.", []string{"3", "7", "10"}, 4, digits, nil)
	cov("rng_1_100", "rng.py", "Generate a number between 1 and 100.", []string{"35", "94", "71"}, 4, nil, validateNumber1To100)
	cov("random_seed", "random_seed.py", "Generate a number to use for a random seed.", []string{"15", "420", "8392013"}, 4, nil, validateSeed)
	cov("prime_numbers", "prime_numbers.py", "Generate a prime number", []string{"617", "13", "47"}, 10, nil, validatePrime)
	cov("small_prime_numbers", "prime_numbers.py", "Generate a prime number less than 100", []string{"29", "5", "97"}, 5, nil, validateSmallPrime)
	cov("us_states_full_names", "us_states.py", "Name a US state", []string{"Kentucky", "Utah", "Oregon"}, 15, usStates, nil)
	cov("us_states_abbreviations", "us_states.py", "US state abbreviation", []string{"KY", "UT", "OR"}, 5, usStateCodes, nil)
	cov("us_states_any_format", "us_states.py", "US state name or abbreviation", []string{"Kentucky", "UT", "Oregon"}, 15, concat(usStates, usStateCodes), nil)
	cov("weekdays_full", "weekdays.py", "Name a day of the week", []string{"Thursday", "Wednesday", "Sunday"}, 10, weekdaysFull, nil)
	cov("weekdays_abbreviated", "weekdays.py", "Day of the week abbreviation", []string{"Thu", "Wed.", "SUN"}, 5, weekdaysAbbreviated, nil)
	cov("weekdays_any_format", "weekdays.py", "Day of the week (full name or abbreviation)", []string{"Monday", "Tue", "SUN"}, 10,
		concat(weekdaysFull, weekdaysAbbreviated, weekdaysSingleLetter), nil)
	cov("basic_emails", "emails.py", "Email address",
		[]string{"tsor13@cs.washington.edu", "alex.jones@domain.net", "itsagoodday@gmail.com"}, 40, nil, validateBasicEmail)
	cov("professional_emails", "emails.py", "Generate a professional email address.",
		[]string{"tsor13@cs.washington.edu", "sarah.johannesburg@organization.org", "yash@anthropic.com"}, 40, nil, validateProfessionalEmail)
	cov("us_phone_numbers", "phone_numbers.py", "US phone number",
		[]string{"(210) 346-0967", "646 562-1938", "800-895-0522"}, 20, nil, validateUSPhone)
	cov("international_phone_numbers", "phone_numbers.py", "International phone number with country code.",
		[]string{"+1 413-121-2591", "+44 10 2958 3938", "+81 3 8328 5625"}, 25, nil, validateInternationalPhone)
	cov("element_symbols", "periodic_table.py", "Chemical element symbol", []string{"Sb", "He", "W"}, 5, nil, validateElementSymbol)
	cov("element_names", "periodic_table.py", "Chemical element name", []string{"Niobium", "Antimony", "Iodine"}, 15, nil, validateElementName)
}
