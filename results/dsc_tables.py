"""Markdown tables of lin2021 Tables I-IV from the `eval.py dsc` result folders.

    python results/dsc_tables.py > results/dsc_tables.md

Run from the repository root after the commands in README "Deep Superpixel Cut". Reads
results/dsc_test_{egb,slic,meanshift}_k16/ (Table II), results/dsc_test_table1_egb100/
(Table I), results/dsc_test_table3_slic100/ + results/dsc_test_table3_ncut/ (Table III) and
the same Table II folders (Table IV; the *_all200 folders where complete);
prints each row next to the paper's and, for Table II, whether DSC beats IMG in SC and VI.
"""

import json
from pathlib import Path

COLS = ("sc_ods", "sc_ois", "pri_ods", "pri_ois", "vi_ods", "vi_ois")
GEN = {"felzenszwalb": "EGB", "slic": "SLIC", "meanshift": "MS"}
DIRS = {
    "felzenszwalb": "dsc_test_egb_k16",
    "slic": "dsc_test_slic_k16",
    "meanshift": "dsc_test_meanshift_k16",
}
NAMES = {"img": "IMG", "rec": "SuperAE", "dsc": "DSC"}


def load(name):
    path = Path("results") / name / "results.json"
    return json.loads(path.read_text()) if path.exists() else None


def fmt(xs):
    return " | ".join(f"{x:.3f}" for x in xs)


def header(first):
    cols = "SC ODS | SC OIS | PRI ODS | PRI OIS | VI ODS | VI OIS"
    return [f"| {first} | | {cols} | regions per level | s/image |", "|---" * 10 + "|"]


def _verdict(r, short):
    d, i = r["rows"]["dsc"], r["rows"]["img"]

    def said(metric, higher):
        marks = []
        for col in ("ods", "ois"):
            a, b = d[f"{metric}_{col}"], i[f"{metric}_{col}"]
            ok = a > b if higher else a < b
            marks.append(f"{col.upper()} {a:.3f} vs {b:.3f} {'better' if ok else 'NOT better'}")
        return ", ".join(marks)

    return (
        f"* {short} ({r['n_images']} images{'' if r['complete'] else ', INCOMPLETE'}), "
        f"DSC vs IMG: SC {said('sc', True)}; VI {said('vi', False)}."
    )


def table2(suffix="", title="Table II", only_complete=False):
    """Table II rows and DSC-vs-IMG verdicts of the result folders ``DIRS[gen] + suffix``."""
    out = header(title)
    verdicts = []
    for gen, short in GEN.items():
        r = load(DIRS[gen] + suffix)
        if r is None or (only_complete and not r["complete"]):
            if not only_complete:
                out.append(f"| {short} | not run | | | | | | | | |")
            continue
        for v in ("img", "rec", "dsc"):
            row, lv = r["rows"][v], r["levels"][v]
            regions = " / ".join(f"{x:.1f}" for x in lv["regions"])
            secs = r["seconds_per_image"][v]
            cells = f"{fmt(row[c] for c in COLS)} | {regions} | {secs:.1f}"
            out.append(f"| {short} {NAMES[v]} | ours | {cells} |")
            out.append(f"| | paper | {fmt(r['paper'][v])} | | |")
        verdicts.append(_verdict(r, short))
    return out, verdicts


def table2_all200():
    """Table II rows of the generators that also ran on all 200 test images."""
    out, verdicts = table2("_all200", "Table II, all 200", only_complete=True)
    return (out, verdicts) if verdicts else ([], [])


def levels(gen):
    r = load(DIRS[gen])
    if r is None:
        return []
    out = [f"| {GEN[gen]} | SC per level | PRI per level | VI per level |", "|---|---|---|---|"]
    for v in ("img", "rec", "dsc"):
        lv = r["levels"][v]
        cells = [" / ".join(f"{x:.3f}" for x in lv[k]) for k in ("sc", "pri", "vi")]
        out.append(f"| {NAMES[v]} | " + " | ".join(cells) + " |")
    return out


TABLE1_PAPER = {  # lin2021 Table I (OIS): SC, PRI, VI
    "img": (0.405, 0.761, 3.483),
    "rec": (0.453, 0.769, 3.019),
    "dsc_img": (0.477, 0.769, 2.471),
    "dsc": (0.488, 0.764, 2.315),
}
TABLE1_NAMES = {
    "img": "IMG (EGB ~100 on the image)",
    "rec": "REC + TEM (EGB ~100 on the SuperAE output)",
    "dsc_img": "IMG + DSC",
    "dsc": "REC + TEM + DSC",
}


def table1():
    r = load("dsc_test_table1_egb100")
    if r is None:
        return ["Table I: not run"]
    out = [
        "| Table I (OIS) | | SC | PRI | VI | regions | s/image |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in ("img", "rec", "dsc_img", "dsc"):
        row = r["rows"][v]
        reg = r["levels"][v]["regions"][0]
        out.append(
            f"| {TABLE1_NAMES[v]} | ours | {row['sc_ois']:.3f} | {row['pri_ois']:.3f} | "
            f"{row['vi_ois']:.3f} | {reg:.1f} | {r['seconds_per_image'][v]:.1f} |"
        )
        out.append(f"| | paper | {fmt(TABLE1_PAPER[v])} | | |")
    out.append(
        "| REC without TEM | paper only (no SuperAE without TEM) | 0.388 | 0.756 | 3.622 | | |"
    )
    return out


def table3():
    old, new = load("dsc_test_table3_slic100"), load("dsc_test_table3_ncut")
    out = header("Table III")
    names = {
        "kmeans_rgb": "k-means, RGB",
        "kmeans_deep": "k-means, Deep",
        "ncut_rgb": "NCut, RGB",
        "ncut_deep": "NCut, Deep",
        "dsc_merge": "DSC (one run, merged to 64/32/16/8)",
    }
    for v in names:
        src = new if v.startswith("ncut") else old
        if src is None or v not in src["rows"]:
            continue
        row, lv = src["rows"][v], src["levels"][v]
        regions = " / ".join(f"{x:.1f}" for x in lv["regions"])
        out.append(
            f"| {names[v]} | ours | {fmt(row[c] for c in COLS)} | {regions} | "
            f"{src['seconds_per_image'][v]:.1f} |"
        )
        out.append(f"| | paper | {fmt(src['paper'][v])} | | |")
    return out


TABLE4_PAPER = {  # lin2021's benchmark comparison (Table IV), SC / PRI / VI at ODS / OIS
    "SLIC": (0.37, 0.38, 0.74, 0.75, 2.56, 2.50),
    "NCuts": (0.45, 0.53, 0.78, 0.80, 2.23, 1.89),
    "EGB": (0.52, 0.57, 0.80, 0.82, 2.21, 1.87),
    "MS": (0.54, 0.58, 0.79, 0.81, 1.85, 1.64),
    "gPb-owt-ucm": (0.59, 0.65, 0.83, 0.86, 1.69, 1.48),
    "W-Net": (0.57, 0.62, 0.81, 0.84, 1.76, 1.60),
    "DSC": (0.56, 0.60, 0.80, 0.83, 1.82, 1.62),
}


def _best(gen):
    """The all-200-image run of ``gen`` when it is complete, else the 100-image one."""
    full = load(DIRS[gen] + "_all200")
    return full if full is not None and full["complete"] else load(DIRS[gen])


def table4():
    out = [
        "| Table IV | | images | SC ODS | SC OIS | PRI ODS | PRI OIS | VI ODS | VI OIS |",
        "|---" * 9 + "|",
    ]
    ours = {
        "SLIC": ("slic", "img"),
        "EGB": ("felzenszwalb", "img"),
        "MS": ("meanshift", "img"),
        "DSC": ("meanshift", "dsc"),
    }
    for name, paper in TABLE4_PAPER.items():
        if name in ours:
            gen, v = ours[name]
            r = _best(gen)
            if r is not None:
                row = r["rows"][v]
                label = f"ours ({GEN[gen]} {NAMES[v]}, 100/50/20/10)"
                out.append(f"| {name} | {label} | {r['n_images']} | {fmt(row[c] for c in COLS)} |")
        given = " | ".join(f"{x:.2f}" for x in paper)  # the paper gives two decimals
        out.append(f"| {name if name not in ours else ''} | paper | 200 | {given} |")
    return out


if __name__ == "__main__":
    t2, verdicts = table2()
    print("\n".join(t2), "", "\n".join(verdicts), "", sep="\n")
    t2a, verdicts_a = table2_all200()
    if t2a:
        print("\n".join(t2a), "", "\n".join(verdicts_a), "", sep="\n")
    for gen in GEN:
        print("\n".join(levels(gen)), "", sep="\n")
    print("\n".join(table1()), "", sep="\n")
    print("\n".join(table3()), "", sep="\n")
    print("\n".join(table4()))
