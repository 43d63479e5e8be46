"""The Streamlit app's panels, one module each; app.py wires them in order.

sidebar.py    the budget: dataset, technique, drive by ε / σ, sliders, advanced settings, the live σ / ε and tier
dashboard.py  which run answers (explorer.answer), the stand-in banner, training, cards, three charts
training.py   the Train button and the live run's progress, ETA, Cancel and outcome
components.py shared pieces: metric cards, charts, captions
resources.py  process-wide caches: the store, previews, figures (memoised by record key)
tab_*.py      the tabs: attack details (with the reconstruction study), compare, what ε means,
              decide ε (tab_decision), your data (a budget study on a user's table), report

Nothing here computes a privacy figure: the engine (explorer/) does, and these modules only show it.
"""
