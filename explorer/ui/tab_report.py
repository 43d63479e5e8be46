"""The report of the run shown: Markdown, HTML (interactive figures, works offline), JSON, and PNG
figures where kaleido can run. It describes that run only, and says so when it is a stand-in."""
from __future__ import annotations

import io
import zipfile
from functools import partial

import streamlit as st

from .. import answer, report


def _pngs(record: dict, records: list[dict]) -> bytes:
    images, why = report.png_figures(report.figures(record, records))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for title, png in images.items():
            z.writestr(title.replace(" ", "-").replace("ε", "epsilon") + ".png", png)
        if why:
            z.writestr("README.txt", why)
    return buf.getvalue()


def render(ans: answer.Answer, baseline: dict | None, records: list[dict]) -> None:
    record = ans.record
    if record is None:
        st.info("The report is built from the run shown above.")
        return
    if ans.stand_in:
        st.warning(f"This report describes the run shown, **{answer.label(record)}** (the nearest cached run), "
                   f"not the asked {ans.asked_text}.")
    name = f"dp-report-{record['key']}"
    st.download_button("Report (Markdown)", report.markdown(record, baseline), file_name=f"{name}.md", key="dl_md")
    # callables run only when the button is pressed: the HTML inlines plotly.js (about 4.7 MB)
    st.download_button("Report (HTML, interactive figures, works offline)",
                       partial(report.html_with_figures, record, baseline, records), file_name=f"{name}.html",
                       key="dl_html", mime="text/html")
    st.download_button("Report (JSON)", partial(report.json_report, record, baseline), file_name=f"{name}.json",
                       key="dl_json", mime="application/json")
    if report.kaleido_available():
        st.download_button("Figures (PNG, zip; drawn by kaleido)", partial(_pngs, record, records),
                           file_name=f"{name}-figures.zip", key="dl_png", mime="application/zip")
    st.caption(f"Reproduce the run this report describes ({answer.label(record)}):")
    st.code(report.reproduce_command(record), language="bash")
    note = report.noise_note(record)
    if note:
        st.caption(f"Noise: {note}.")
    if ans.stand_in:
        st.caption(f"Train the asked configuration ({ans.asked_text}) instead:")
        st.code(report.command(ans.asked.to_dict()), language="bash")
