"""genolang.runtime: datasets, training, the trial ledger and ONNX inference (issue: runtime)."""
