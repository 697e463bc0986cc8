package suite

// The reference's tasks that need downloaded data. They are registered with
// Offline=false so that their names, kinds and splits are known (listing,
// IsTest, Lookup); their rows are imported from JSONL.

// onlineICL are the default_data_map keys (icl_classes/dataloaders.py) other
// than the offline built-ins, in the reference's order.
var onlineICL = []string{
	"polis_vote", "polis_comment", "diffuse_distribution", "novacomet_hypothesis", "novacomet_premise",
	"habermas_question", "habermas_individual", "habermas_individual_categorical", "hatespeech_individual",
	"valueprism_situation", "valueprism_vrd", "valueprism_vrds_noncontextual", "valueprism_misc",
	"opinionqa_individual", "opinionqa_questions", "wvs_individual", "generativesocialchoice_validation",
	"generativesocialchoice_freetext", "popquorn_individual", "popquorn_og_categorical",
	"numbergame_individual", "numbergame_perc", "babynames", "haikus", "valueconsistency", "globaloqa",
	"issuebench", "chatbotarena_prompts", "chatbotarena_individual_prefs", "chatbotarena_assistant",
	"helpsteer", "dices", "imdb", "changemyview_categories", "changemyview_posts",
	"bare_gsm8k", "bare_enron", "bare_hotpot", "bare_lcb", "newsgroups", "pubmed",
	"gsm8k_question", "gsm8k_answer_from_question", "gsm8k_question_answer", "gsm8k_question_from_answer",
	"ambient_premise_hypothesis", "ambient_ambiguity_detection", "ambient_disambiguation",
	"ambient_linguist_annotations", "ambient_interpretation_labels", "ambient_annotation_distributions",
	"titanic_all_variables", "titanic_survival_prediction",
	"jeopardy_question_generation", "jeopardy_answer_prediction",
	"prism_prompts", "prism_prompts_individual", "prism_individual_preferences",
	"netflix_individual_ratings", "netflix_individual_views",
	"lewidi_csc_sarcasm_detection_individual", "lewidi_mp_irony_detection_individual",
	"lewidi_par_paraphrase_detection_individual", "lewidi_par_paraphrase_detection_individual_categorical",
	"lewidi_varierrnli_nli_detection_individual", "lewidi_varierrnli_nli_detection_individual_categorical",
	"community_alignment_initial_prompt", "community_alignment_individual_reply",
	"community_alignment_individual_preferences", "community_alignment_response",
	"collective_alignment_individual",
	"mmlu", "gpqa", "hellaswag", "winogrande", "arc", "drop", "truthful_qa",
	"chemistry_esol", "chemistry_oxidative",
}

func init() {
	for _, name := range onlineICL {
		register(&Task{Name: name, Kind: KindICL, Source: "icl_classes/dataloaders.py"})
	}
	onlineCov := []struct {
		name, src, desc string
		examples        []string
		maxNew          int
	}{
		{"color_normal_ex", "colors.py", "Generate a color name.", []string{"Green", "Red", "White"}, 8},
		{"color_interesting_ex", "colors.py", "Generate a color name.", []string{"Otterly Brown", "Petal Pink", "Cherry"}, 8},
		{"claude_gerunds", "claude_gerunds.py", "Generate an English gerund ending in -ing.", []string{"Schlepping", "Hoisting", "Thinking"}, 4},
		{"car_make_model", "cars.py", "Car make and model.", []string{"Acura Integra", "Ford Mustang", "Tesla Model 3"}, 16},
		{"car_brand", "cars.py", "Car brand.", []string{"Acura", "Ford", "Tesla"}, 8},
	}
	for _, c := range onlineCov {
		register(&Task{Name: c.name, Kind: KindCoverage, Source: "diverse_valid/tasks/" + c.src,
			Summary: c.desc, Descriptions: []string{c.desc}, Examples: c.examples, MaxNewTokens: c.maxNew})
	}
	onlineDist := []struct{ name, src, outputName string }{
		{"numbergame", "numbergame.py", "Target Number Membership (Yes/No)"},
		{"global_oqa", "global_oqa.py", "Response (letter)"},
		{"habermas", "habermas.py", "Answer (Likert 1-7)"},
		{"mpi", "mpi.py", "Agreement Rating (0-5)"},
		{"nytimes", "nytimes.py", "Reading Likelihood (1, 2, 3, 4)"},
		{"rotten_tomatoes", "rotten_tomatoes.py", "Movie Rating (Good or Bad)"},
	}
	for _, d := range onlineDist {
		register(&Task{Name: d.name, Kind: KindDistributional, OutputName: d.outputName,
			Source: "distributional_alignment/distributional_tasks/" + d.src})
	}
}
