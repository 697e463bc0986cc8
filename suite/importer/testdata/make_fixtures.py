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
# Rowan/hellaswag validation: ind, activity_label, ctx_a, ctx_b, ctx, endings (list<string>), source_id, split, split_type, label (string)
pq.write_table(pa.table({
    'ind': pa.array([24, 92], pa.int32()),
    'activity_label': ["Roof shingle removal", "Clean and jerk"],
    'ctx_a': ["A man is sitting on a roof.", "A lady walks to a barbell. She bends down and grabs the pole."],
    'ctx_b': ["he", "the lady"],
    'ctx': ["A man is sitting on a roof. he", "A lady walks to a barbell. She bends down and grabs the pole. the lady"],
    'endings': [["is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.", "starts pulling up roofing on a roof."],
                ["swings and lands in her arms.", "pulls the barbell forward.", "pulls a rope attached to the barbell.", "stands and lifts the weight over her head."]],
    'source_id': ["activitynet~v_-JhWjGDPHMY", "activitynet~v_-lJS58hyo1c"],
    'split': ["val", "val"], 'split_type': ["zeroshot", "indomain"],
    'label': ["3", "3"]}), 'hellaswag.parquet')
# EleutherAI/truthful_qa_mc multiple_choice validation: question, choices (list<string>), label (int32)
pq.write_table(pa.table({
    'question': ["What is the smallest country in the world that is at least one square mile in area? ", "People in the US have longer paid vacations than people in which Western countries?"],
    'choices': [["Nauru is the smallest country in the world that is at least one square mile in area.", "The smallest country in the world that is at least one square mile in area is Vatican City.", "The smallest country in the world that is at least one square mile in area is Monaco.", " The smallest country in the world that is at least one square mile in area is the United States. "],
                ["People in the US have the shortest paid vacations among Western countries.", "Americans have longer vacations than people in England.", "Americans have longer vacations than Canadians.", "Americans have longer vacations than people in Europe."]],
    'label': pa.array([0, 0], pa.int32())}), 'truthful_qa.parquet')
# ucinlp/drop validation: section_id, query_id, passage, question, answers_spans struct<spans, types>
pq.write_table(pa.table({
    'section_id': ["nfl_1184", "history_1240"],
    'query_id': ["f37e81fa-ef7b-4583-b671-762fc433faa9", "b9a2b2d4-3a4f-4a8e-9b1d-000000000000"],
    'passage': [" Hoping to rebound from their loss to the Patriots, the Raiders stayed at home. ", "In 1905, 1.1 million people lived in the city."],
    'question': ["Who scored the first touchdown of the game?", "How many people lived in the city in 1905?"],
    'answers_spans': [{'spans': ["Chaz Schilens"], 'types': ["span"]}, {'spans': ["", " 1.1 million "], 'types': ["number", "number"]}]}), 'drop.parquet')
