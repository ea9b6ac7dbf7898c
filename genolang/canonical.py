"""Canonical JSON: the one text form behind digests, fingerprints and stored keys.

Sorted keys, no spaces, UTF-8 kept, NaN refused: two equal values give the same text.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
