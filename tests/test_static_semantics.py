"""Static semantics: what `check` refuses so that every genotype it accepts compiles (issue 13).

Each case is a space a new user could write from docs/language.md that `check` used to
accept although its genotypes could not compile (or compiled to something else than
written); each must now be refused at the culprit's line with a catalogued code, or
compile. The property tests over generated spaces are in test_space_props.py.
"""

from __future__ import annotations

import pytest

import genolang

H = "genolang 1\n"


def refused(text: str, name: str = "s.geno") -> genolang.GenolangError:
    with pytest.raises(genolang.GenolangError) as info:
        genolang.loads(text, name)
    return info.value


# ------------------------------------------------------------------ import paths
@pytest.mark.parametrize("path,why", [
    ("a\x00b.geno", "a path cannot hold a NUL character"),
    ("a" * 5000 + ".geno", "the path is longer than 4096 bytes"),
    ("x/" * 2100 + ".geno", "the path is longer than"),
    ("a" * 300 + ".geno", "not a usable path (File name too long)"),  # one name over the OS's limit
    ("\udcff.geno", "the path is not valid UTF-8"),
])
def test_an_unusable_import_path_is_E0213_at_the_import(path, why):
    err = refused(f'{H}import "{path}"\nspace s version 1 {{ x: bool }}\n')
    assert err.code == "E0213" and (err.line, err.column) == (2, 1)
    assert why in err.first.message and len(err.first.message) < 300
    err.first.message.encode("utf-8")  # printable: no surrogate or NUL reaches the terminal
    assert "\x00" not in err.first.message
