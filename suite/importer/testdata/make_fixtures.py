"""Writes the Parquet fixtures of the recipe tests with pyarrow, in the column
layout (names and Arrow types) of the Hugging Face files the recipes read.
Rows are copied or shortened from the public data sets. Not run by the tests:
the files are committed. Usage: python make_fixtures.py (needs pyarrow)."""
import pyarrow as pa
import pyarrow.parquet as pq

# stanfordnlp/imdb plain_text train: text (string), label (int64 class label)
pq.write_table(pa.table({
    'text': ["I rented I AM CURIOUS-YELLOW from my video store.", "A wonderful little production.",
             "This movie was terrible; \"avoid\" it.", "Ótimo filme, really great."],
    'label': pa.array([0, 1, 0, 1], pa.int64())}), 'imdb.parquet')
# gsm8k main train: question, answer
pq.write_table(pa.table({
    'question': ["Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
                 "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
                 "Betty is saving money for a new wallet which costs $100."],
    'answer': ["Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
               "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
               "In the beginning, Betty has only 100 / 2 = $<<100/2=50>>50.\n#### 5"]}), 'gsm8k.parquet')
# cais/mmlu all test: question, subject, choices (list<string>), answer (int64)
pq.write_table(pa.table({
    'question': ["Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.",
                 "Let p = (1, 2, 5, 4)(2, 3) in S_5 . Find the index of <p> in S_5.",
                 "Statement 1 | A factor group of a non-Abelian group is non-Abelian."],
    'subject': ["abstract_algebra"] * 3,
    'choices': [["0", "4", "2", "6"], ["8", "2", "24", "120"], ["True, True", "False, False", "True, False", "False, True"]],
    'answer': pa.array([1, 2, 1], pa.int64())}), 'mmlu.parquet')
# allenai/ai2_arc ARC-Challenge test: id, question, choices struct<text, label>, answerKey
pq.write_table(pa.table({
    'id': ["Mercury_7175875", "Mercury_SC_409171", "NYSEDREGENTS_2015_4_8"],
    'question': ["An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?",
                 " A group of engineers wanted to know how different building designs would respond during an earthquake. ",
                 "Which object is the best conductor of electricity?"],
    'choices': [{'text': ["Planetary density will decrease.", "Planetary years will become longer.", "Planetary days will become shorter.", "Planetary gravity will become stronger."], 'label': ["A", "B", "C", "D"]},
                {'text': ["buildings will be built faster", " buildings will be made safer ", "building designs will look nicer"], 'label': ["A", "B", "C"]},
                {'text': ["a wax crayon", "a plastic spoon", "a rubber eraser", "an iron nail"], 'label': ["1", "2", "3", "4"]}],
    'answerKey': ["C", "B", "4"]}), 'arc.parquet')
# allenai/winogrande winogrande_xl validation: sentence, option1, option2, answer (string)
pq.write_table(pa.table({
    'sentence': ["Sarah was a much better surgeon than Maria so _ always got the easier cases.",
                 "They were worried the wine would ruin the bed and the blanket, but the _ was't ruined."],
    'option1': ["Sarah", "blanket"], 'option2': ["Maria", "bed"], 'answer': ["2", "2"]}), 'winogrande.parquet')
