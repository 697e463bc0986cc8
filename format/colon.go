package format

// colonDelim is the reference's delim of messages_to_colon_loss_texts.
const colonDelim = "\n\n"

// Colon is the "colon" baseline format for models without turn tokens
// (§2.2).
type Colon struct{}

// NewColon returns the colon format.
func NewColon() *Colon { return &Colon{} }

// Name returns "colon".
func (*Colon) Name() string { return NameColon }

// StopString returns "\n" (TEMPLATE_MAPS["colon"]["end_string"]).
func (*Colon) StopString() string { return "\n" }

// GenerationPrompt returns the text appended by Render's startGeneration.
func (*Colon) GenerationPrompt() string { return "Output:" }

// Render renders messages as in messages_to_colon_loss_texts:
// "Description: D\n\n", "Input: I\n\n", an output as the unscored "Output:"
// and the scored " "+strip(O)+"\n\n", any other role r as
// capitalize(r)+": "+content+"\n\n". Every output is scored.
func (*Colon) Render(msgs []Message, startGeneration bool) ([]Segment, error) {
	if err := checkRoles(msgs); err != nil {
		return nil, err
	}
	segs := make([]Segment, 0, 2*len(msgs)+1)
	for _, m := range msgs {
		switch m.Role {
		case RoleDescription:
			segs = append(segs, Segment{Text: "Description: " + m.Content + colonDelim})
		case RoleInput:
			segs = append(segs, Segment{Text: "Input: " + m.Content + colonDelim})
		case RoleOutput:
			segs = append(segs,
				Segment{Text: "Output:"},
				Segment{Text: " " + pyStrip(m.Content) + colonDelim, Loss: true})
		default:
			segs = append(segs, Segment{Text: pyCapitalize(m.Role) + ": " + m.Content + colonDelim})
		}
	}
	if startGeneration {
		segs = append(segs, Segment{Text: "Output:"})
	}
	return segs, nil
}
