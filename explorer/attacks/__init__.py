"""Privacy evidence: canary audit (worst case, one run; bounds from jax-privacy), membership inference on
real records (LOSS, RMIA), class prototypes, and the reconstruction study beside its ReRo bound. Each
attack takes a trained model and data and returns a JSON-ready block with a plain-language statement.
Importing this package loads neither torch nor jax."""
