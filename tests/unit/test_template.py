"""The example `smtrain init` writes is the checkout's own: `entry_points/` is a link to the packaged folder, and the
other packaged copies are identical to the checkout's."""

from __future__ import annotations

import pytest

from smtrain.project.init import FILES, template_file
from tests.conftest import REPO

CHECKOUT_COPIES = {"entry_points/penguins.py": "entry_points/penguins.py",
                   "notebooks/penguins.ipynb": "notebooks/penguins.ipynb", ".env.example": "env.example"}


@pytest.mark.parametrize(("checkout", "packaged"), sorted(CHECKOUT_COPIES.items()))
def test_the_packaged_copy_is_the_checkouts(checkout: str, packaged: str) -> None:
    assert template_file(packaged).read_bytes() == (REPO / checkout).read_bytes(), (
        f"copy {checkout} to smtrain/project/template/{packaged}")


def test_every_file_init_writes_is_packaged() -> None:
    for name in FILES.values():
        assert template_file(name).is_file(), name
