"""Privacy evidence: canary audit (worst case), membership inference on real records (average
case), model inversion. Each attack takes a trained model and data, and returns a JSON-ready block."""
