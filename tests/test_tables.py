"""A user's table: every malformed kind → one ExplorerError naming its cause, or the documented note;
the options (target, exclusions, types, subsample) reach the Dataset and the fingerprint; nothing saved
holds a cell value."""
import json

import numpy as np
import pandas as pd
import pytest

from explorer import data, tables
from explorer.errors import ExplorerError
from explorer.tables import TableSpec, prepare, read_table


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"age": rng.integers(18, 90, n), "colour": rng.choice(["Crimson", "Teal"], n),
                         "x": x.round(4), "label": np.where(x > 0, "yes", "no")})


def _csv(df, **kw) -> bytes:
    return df.to_csv(index=False, **kw).encode()


def _error(raw, target="label", **spec) -> str:
    with pytest.raises(ExplorerError) as e:
        prepare(read_table(raw), TableSpec(target, **spec))
    return str(e.value)


# ---------------------------------------------------------------- malformed kinds → one error naming the cause
@pytest.mark.parametrize("raw,words", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"age,colour,label\n", "no rows"),  # a header and nothing else: not "single column"
    (b"age,colour,label\n30,red,yes\n", "too few rows"),  # one row: not "1 class"
    (b"justonecolumn\n" + b"1\n" * 150, "only one column"),
    (b"\x00\x01\x02\xff\xfe" * 50, "not a text table"),
    (b"PK\x03\x04" + b"\x00" * 200, "Excel workbook"),
    (b"%PDF-1.4\n" + b"x" * 200, "PDF"),
    ("age,label\n".encode("utf-16-le") * 3, "UTF-16 text without a byte-order mark"),
    (b"a,b,label\n" + b"1,\x81x,yes\n" * 150, "unreadable encoding"),
    (b"a,b,label\n1,2,yes\n1,2,3,4\n", "line 3 has 4 fields"),
    (b'a,b,label\n1,"open,yes\n' + b"1,2,no\n" * 150, "never closed"),
])
def test_unreadable_tables_name_their_cause(raw, words):
    with pytest.raises(ExplorerError, match=words):
        read_table(raw)


def test_target_problems_name_their_cause():
    df = _frame()
    assert "not in the data" in _error(_csv(df), target="nope")
    df["same"] = "one"
    assert "1 class" in _error(_csv(df), target="same")  # a constant target: dropped as a feature, named as a target
    df["blank"] = ""
    assert "empty in every row" in _error(_csv(df), target="blank")
    many = df.assign(label=[f"k{i % 60}" for i in range(len(df))])
    assert "too many classes (60" in _error(_csv(many))
    price = _frame(400).assign(label=np.round(np.random.default_rng(1).normal(50, 10, 400), 2))
    assert "regression" in _error(_csv(price))
    rare = df.assign(label=["rare"] * 3 + ["common"] * (len(df) - 3))
    msg = _error(_csv(rare))
    assert "too few rows of a class" in msg and "'rare' (3 row(s))" in msg
    holes = df.assign(label=["" if i % 3 else v for i, v in enumerate(df["label"])])  # 67 rows keep a label
    assert "too few rows: 67 row(s) have a target value" in _error(_csv(holes))


def test_mostly_numeric_column_is_explained_then_overridable():
    df = _frame()
    df["dose"] = np.random.default_rng(2).choice(["0.5", "1", "2.5"], len(df))
    df.loc[3, "dose"] = "n/a?"
    msg = _error(_csv(df))
    assert "'dose' is numeric except for 1 value(s)" in msg and "data row 4" in msg
    as_num = prepare(read_table(_csv(df)), TableSpec("label", types={"dose": "numeric"}))
    assert any("1 non-number cell(s) of 'dose' treated as missing" in n for n in as_num.summary["notes"])
    as_cat = prepare(read_table(_csv(df)), TableSpec("label", types={"dose": "categorical"}))
    assert "no column" in _error(_csv(df), exclude=("ghost",))
    assert as_cat.dataset.x_train.shape[1] > as_num.dataset.x_train.shape[1]


def test_too_large_file_and_table(monkeypatch, tmp_path):
    raw = _csv(_frame(300))
    monkeypatch.setattr(tables, "MAX_UPLOAD_BYTES", len(raw) - 1)
    with pytest.raises(ExplorerError, match="at most 50 MB"):
        read_table(raw)
    path = tmp_path / "big.csv"
    path.write_bytes(raw)
    with pytest.raises(ExplorerError, match="at most 50 MB"):
        read_table(str(path))
    monkeypatch.undo()
    t = read_table(raw)
    with pytest.raises(ExplorerError, match="too large to study.*300 rows.*subsample of 200"):
        prepare(t, TableSpec("label"), row_limit=200)
    p = prepare(t, TableSpec("label", subsample=True), row_limit=200)
    assert p.summary["rows_used"] == 200 and p.summary["subsampled"]["from"] == 300
    assert any("subsampled to 200 of 300 rows" in n for n in p.summary["notes"])
    assert p.fingerprint != prepare(t, TableSpec("label", subsample=True)).fingerprint
    rare = _frame(300).assign(label=["rare"] * 10 + ["common"] * 290)
    with pytest.raises(ExplorerError, match="rare class"):
        prepare(read_table(_csv(rare)), TableSpec("label", subsample=True), row_limit=150)
    with pytest.raises(ExplorerError, match="no such file"):
        read_table(str(tmp_path / "missing.csv"))


# ---------------------------------------------------------------- what is read, and the notes
def test_encodings_and_separators():
    df = _frame().assign(colour=lambda d: np.where(d["x"] > 1, "Müller", "Øst"))
    for enc, note in (("latin-1", "Windows-1252 / Latin-1"), ("cp1252", "Windows-1252 / Latin-1"),
                      ("utf-8-sig", "UTF-8 with a byte-order mark"), ("utf-16", "UTF-16")):
        t = read_table(df.to_csv(index=False).encode(enc))
        assert [c.name for c in t.columns][0] == "age", enc  # no BOM glued to the first name
        assert any(note in n for n in t.notes), (enc, t.notes)
        ds = prepare(t, TableSpec("label")).dataset
        assert {"colour=Müller", "colour=Øst"} <= set(ds.feature_names), enc
    semi = df.to_csv(index=False, sep=";", decimal=",").encode()
    t = read_table(semi)
    assert t.separator == ";" and "x" in t.numbers and any("decimal commas" in n for n in t.notes)
    np.testing.assert_allclose(t.numbers["x"], df["x"].to_numpy())
    tab = read_table(df.to_csv(index=False, sep="\t").encode())
    assert tab.separator == "\t" and [c.inferred for c in tab.columns] == ["numeric", "categorical", "numeric",
                                                                         "categorical"]


def test_quoted_newlines_infinities_duplicates_empty_constant_and_ids():
    df = _frame()
    df["colour"] = np.where(df["x"] > 0, "dark\nred", "pale, blue")  # a newline and a comma inside quotes
    df["x"] = df["x"].astype(object)
    df.loc[[1, 2], "x"] = ["inf", "-inf"]
    df["empty"] = ""
    df["const"] = "k"
    df["row_id"] = np.arange(1000, 1000 + len(df))
    df["name"] = [f"person {i}" for i in range(len(df))]
    raw = _csv(df)
    header, rest = raw.split(b"\n", 1)
    assert header == b"age,colour,x,label,empty,const,row_id,name"
    raw = b"age,colour,x,label,x,const,row_id,name\n" + rest  # the header repeats "x"
    t = read_table(raw)
    assert t.n_rows == len(df)  # quoted newlines did not split rows
    notes = " | ".join(t.notes)
    assert "repeated column names renamed: 'x' → 'x (2)'" in notes
    assert "±infinity treated as missing in 'x' (2)" in notes
    assert "'x (2)' (empty in every row)" in notes and "'const' (the same value in every row)" in notes
    types = {c.name: c.inferred for c in t.columns}
    assert types["row_id"] == "excluded" and types["name"] == "excluded" and types["x"] == "numeric"
    assert "proposed for exclusion: 'row_id', 'name'" in notes
    p = prepare(t, TableSpec("label"))
    assert np.isfinite(p.dataset.x_train).all()
    assert {"colour=dark\nred", "colour=pale, blue"} == {f for f in p.dataset.feature_names if f.startswith("colour")}
    with_id = prepare(t, TableSpec("label", types={"row_id": "numeric"}))
    assert with_id.dataset.x_train.shape[1] == p.dataset.x_train.shape[1] + 1
    assert with_id.fingerprint != p.fingerprint
    fewer = prepare(t, TableSpec("label", exclude=("colour",)))
    assert fewer.dataset.x_train.shape[1] == p.dataset.x_train.shape[1] - 2
    preview = t.preview()
    assert {"column", "type", "distinct", "missing", "note"} <= set(preview[0])


def test_summary_holds_no_cell_value_and_options_reach_the_dataset():
    df = _frame()
    df["label"] = np.where(df["label"] == "yes", "Approved", "Declined")
    df["city"] = np.random.default_rng(3).choice(["Ljubljana", "Tórshavn", "Reykjavík"], len(df))
    t = read_table(_csv(df))
    p = prepare(t, TableSpec("label"))
    saved = json.dumps(p.summary, ensure_ascii=False)
    for level in ["Crimson", "Teal", "Ljubljana", "Tórshavn", "Reykjavík", "Approved", "Declined"]:
        assert level not in saved, level
    for cell in df["x"].astype(str).sample(30, random_state=0):
        assert cell not in saved, cell
    assert p.summary["features"] == p.dataset.x_train.shape[1] == 2 + 2 + 3
    roles = {c["name"]: c for c in p.summary["columns"]}
    assert roles["label"]["type"] == "target" and roles["city"]["levels"] == 3
    # the study's table goes through pipeline.run as csv=: data.load hands the prepared Dataset back
    assert data.load("csv", csv=p, target="label") is p.dataset
    with pytest.raises(ExplorerError, match="target is 'label'"):
        data.load("csv", csv=p, target="age")
    assert p.fingerprint != prepare(t, TableSpec("colour")).fingerprint  # the target is part of the key


def test_spec_validation():
    with pytest.raises(ExplorerError, match="choose the target"):
        TableSpec("")
    with pytest.raises(ExplorerError, match="cannot also be excluded"):
        TableSpec("label", exclude=("label",))
    with pytest.raises(ExplorerError, match="must be one of"):
        TableSpec("label", types={"age": "date"})
    spec = TableSpec("label", exclude=("b", "a"), types={"x": "categorical"}, subsample=True)
    assert TableSpec.from_dict(spec.to_dict()) == spec
    t = read_table(_csv(_frame().assign(word=lambda d: [f"w{i % 70}" for i in range(len(d))])))
    assert {c.name: c.inferred for c in t.columns}["word"] == "excluded"  # 70 levels: text, not a category
    with pytest.raises(ExplorerError, match="at most 50"):
        prepare(t, TableSpec("label", types={"word": "categorical"}))
