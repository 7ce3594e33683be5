"""Fitted weights of the estimators are bit-identical to the fingerprints taken before the fit loop's rewrite."""

import json

import pytest

from fingerprints import PATH, cases, fingerprint, key

TABLE = json.loads(PATH.read_text())


@pytest.mark.parametrize("numba", ["1", "0"], ids=["compiled", "numpy"])
@pytest.mark.parametrize("case", cases(), ids=lambda c: f"{c[0]}-{c[1]}-{'-'.join(map(str, c[2].values()))}")
def test_fit_matches_fingerprint(case, numba, numba_switch):
    numba_switch(numba)
    expected = TABLE[key(*case)]
    assert fingerprint(*case) == expected
