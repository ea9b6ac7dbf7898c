"""genolang.searchers: search algorithms behind one ask/tell interface (issue: searchers)."""
