package suite

import (
	"strings"
	"testing"
)

func TestCoverageExamples(t *testing.T) {
	for _, task := range Tasks() {
		if task.Kind != KindCoverage || !task.Offline {
			continue
		}
		if len(task.Examples) != 3 || len(task.Descriptions) != 1 || task.MaxNewTokens <= 0 {
			t.Errorf("%s: %d examples, %d descriptions, max_new_tokens %d", task.Name, len(task.Examples), len(task.Descriptions), task.MaxNewTokens)
		}
		for _, ex := range task.Examples {
			valid := task.Validate(ex)
			// Reference quirk (§9.10): the task's own example fails its validator.
			want := !(task.Name == "us_phone_numbers" && ex == "646 562-1938")
			if valid != want {
				t.Errorf("%s: Validate(%q) = %v, want %v", task.Name, ex, valid, want)
			}
		}
		if task.Validate("") {
			t.Errorf("%s: empty string is valid", task.Name)
		}
		msgs := task.CoverageMessages(true, true)
		if len(msgs) != 4 || msgs[0].Role != RoleDescription || msgs[3].Content != task.Examples[2] {
			t.Errorf("%s: both-condition messages %v", task.Name, msgs)
		}
		if m := task.CoverageMessages(true, false); len(m) != 1 {
			t.Errorf("%s: description-only messages %v", task.Name, m)
		}
		if m := task.CoverageMessages(false, true); len(m) != 3 || m[0].Role != RoleOutput {
			t.Errorf("%s: examples-only messages %v", task.Name, m)
		}
	}
}

// Cases follow the reference validators' code (the reference's own test lists
// contradict its code in places, e.g. they call "monday" invalid for
// weekdays_full although its list contains it).
func TestCoverageValidators(t *testing.T) {
	tests := []struct {
		task    string
		valid   []string
		invalid []string
	}{
		{"rng_1_10", []string{"1", "5", "10"},
			[]string{"0", "11", "-1", "one", "1.5", " 5 ", "5\n", "05", "+5"}},
		{"rng_1_100", []string{"1", "10", "50", "99", "100", "+5", "1_0", "\u0665"},
			[]string{"0", "101", "-1", "one", "50.5", " 50 ", "", "050", "999", "-0", "5\n", "1__0"}},
		{"random_seed", []string{"0", "42", "1000000", "4294967295", "123456789", " 42 ", "42\n", "007", "+3", "4_2"},
			[]string{"-1", "4294967296", "one", "1.5", "", "invalid", "0x42", "4 2"}},
		{"prime_numbers", []string{"2", "3", "5", "97", "101", "997", "1009", "1013", "1000000007", "+7", "\u0667"},
			[]string{"1", "0", "-1", "4", "9", "15", "21", "25", "27", "100", "121", "144", "1000", " 7 ", "07",
				"3.5", "abc", "", "2.0", "-7", "7\n", "1000000007000000049"}},
		{"small_prime_numbers", []string{"2", "3", "5", "7", "29", "89", "97"},
			[]string{"1", "4", "9", "101", "103", "997", "100", " 7 ", "07", "", "abc"}},
		{"us_states_full_names", []string{"California", "New York", "North Carolina", "Wyoming"},
			[]string{"CA", "Los Angeles", "Washington DC", "Puerto Rico", "", "california", "CALIFORNIA", "New york", " Texas"}},
		{"us_states_abbreviations", []string{"CA", "TX", "NY", "WY"},
			[]string{"California", "DC", "PR", "XX", "", "ca", "C", "CAL", "123", "CA "}},
		{"us_states_any_format", []string{"California", "CA", "Texas", "TX", "IL"},
			[]string{"Los Angeles", "Washington DC", "XX", "", "california", "ca"}},
		{"weekdays_full", []string{"Monday", "Sunday", "monday", "MONDAY", "thursday"},
			[]string{"Mon", "Tue", "Mondayy", "Weekday", "Today", "", "8th day", "MonDay", "Monday."}},
		{"weekdays_abbreviated", []string{"Mon", "Thu", "Wed.", "SUN", "MON"},
			[]string{"Monday", "mon", "Mo", "Mond", "M", "T", "", "123", "ABC", "sun.", "THU."}},
		{"weekdays_any_format", []string{"Monday", "Mon", "Tue.", "SUN", "monday", "M", "Th", "Sa"},
			[]string{"mon", "R", "U", "Weekday", "", "Holiday", "Mondayy", "Thurs"}},
		{"basic_emails", []string{"user@example.com", "john.doe@company.org", "tsor13@cs.washington.edu",
			"user+tag@example.com", "user_name@example.com", "a@b.co", " a@b.co\t", "100%@x.io",
			"very.long.email.address@very.long.domain.example.com"},
			[]string{"userexample.com", "@example.com", "user@", "user@.com", "user@example.", "user@example",
				".user@example.com", "user.@example.com", "us..er@example.com", "user@ex..ample.com",
				"user name@example.com", "user@exam ple.com", "", "user@example.c", "a@b@c.com", "ü@x.com",
				strings.Repeat("a", 65) + "@x.com"}},
		{"professional_emails", []string{"john.smith@company.com", "sarah@organization.org", "admin@university.edu",
			"contact@government.gov", "user@mycorp.COM", "info@nonprofit.org"},
			[]string{"userexample.com", "user@example", "user@personal.xyz", "user@test.info", "", "user@domain.co.uk",
				"@company.com", "user@domain.net"}},
		{"us_phone_numbers", []string{"555-123-4567", "(555) 123-4567", "212 555 0123", " 800-555-1234 ", "(210) 346-0967",
			"\u0665\u0665\u0665-123-4567"}, // Python's \d matches any Unicode digit
			[]string{"555-1234", "555-123-45678", "55-123-4567", "555-12-4567", "+1 555-123-4567", "555.123.4567",
				"(555)123-4567", "abc-def-ghij", "", "1234567890", "646 562-1938", "(555) 123 4567"}},
		{"international_phone_numbers", []string{"+1 555-123-4567", "+44 20 7946 0958", "+33 1 42 68 53 00",
			"+49 30 12345678", "+81 3 1234 5678", "+1234567", "+1\t234 5678", "+1-2-3-4-5-6-7"},
			[]string{"555-123-4567", "+1234567890123456", "+1 555", "1 555-123-4567", "+", "+abc 123-4567", "",
				"+1", "+999 999 999 999 9999", "+1 2 3 4 5 6 7 8", "+1  234 5678", "+1 (555) 123-4567", "+1 555-123-4567-"}},
		{"element_symbols", []string{"H", "He", "Sb", "W", "Og", "Fl", "Lv"},
			[]string{"hydrogen", "h", "HE", "XX", "Xy", "", "123", "H2", "H2O", "NaCl", " H ", "Carbon", "Uut"}},
		{"element_names", []string{"Hydrogen", "Aluminum", "Sulfur", "Cesium", "hydrogen", "CARBON", "Oganesson", "niobium"},
			[]string{"H", "He", "Water", "Steel", "", "123", "Hydrogenium", "Carbonic", " Hydrogen ", "Element",
				"Aluminium", "Ununtrium"}},
	}
	for _, tt := range tests {
		task, err := Lookup(tt.task)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tt.valid {
			if !task.Validate(s) {
				t.Errorf("%s: %q should be valid", tt.task, s)
			}
		}
		for _, s := range tt.invalid {
			if task.Validate(s) {
				t.Errorf("%s: %q should be invalid", tt.task, s)
			}
		}
	}
}

func TestCoverageValidSets(t *testing.T) {
	sizes := map[string]int{
		"rng_1_10": 10, "us_states_full_names": 50, "us_states_abbreviations": 50, "us_states_any_format": 100,
		"weekdays_full": 21, "weekdays_abbreviated": 21, "weekdays_any_format": 49,
		"rng_1_100": 0, "prime_numbers": 0, "basic_emails": 0, "element_symbols": 0,
	}
	for name, n := range sizes {
		task, _ := Lookup(name)
		if len(task.ValidSet) != n {
			t.Errorf("%s: ValidSet has %d strings, want %d", name, len(task.ValidSet), n)
		}
		for _, s := range task.ValidSet {
			if !task.Validate(s) {
				t.Errorf("%s: %q in ValidSet is invalid", name, s)
			}
		}
	}
	els := Elements()
	if len(els) != 118 || els[0].Symbol != "H" || els[117].Name != "Oganesson" {
		t.Fatalf("elements: %d, first %v, last %v", len(els), els[0], els[117])
	}
	seen := map[string]bool{}
	for i, e := range els {
		if e.Number != i+1 || seen[e.Symbol] || seen[e.Name] {
			t.Errorf("element %v", e)
		}
		seen[e.Symbol], seen[e.Name] = true, true
	}
	sym, _ := Lookup("element_symbols")
	name, _ := Lookup("element_names")
	for _, e := range els {
		if !sym.Validate(e.Symbol) || !name.Validate(e.Name) || !name.Validate(strings.ToUpper(e.Name)) {
			t.Errorf("element %v not valid", e)
		}
	}
	if task, _ := Lookup("car_brand"); task.Offline || task.Validate("Ford") || len(task.CoverageMessages(true, true)) != 4 {
		t.Errorf("car_brand: offline %v", task.Offline)
	}
}

func TestCoverageGenerate(t *testing.T) {
	rows := gen(t, "us_phone_numbers", 1, 2)
	want := []Message{{RoleDescription, "US phone number"}, {RoleOutput, "(210) 346-0967"}, {RoleOutput, "646 562-1938"}, {RoleOutput, "800-895-0522"}}
	for _, r := range rows {
		if len(r.Messages) != 4 || r.Messages[0] != want[0] || r.Messages[2] != want[2] || extra[int](t, r, "max_new_tokens") != 20 {
			t.Errorf("row %+v", r)
		}
	}
}
