"""genolang.compiler: genotype -> Graph IR -> PyTorch module and ONNX graph (issue: compiler)."""
