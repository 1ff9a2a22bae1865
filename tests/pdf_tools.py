"""What the PDF tests share: poppler's command-line readers, and a report source already loaded."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pytest

from ui.review_data import ReviewData


def poppler(name: str) -> str:
    """The path of a poppler-utils tool (``pdftotext``, ``pdfinfo``...); fails on CI, skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} (poppler-utils) is needed: apt-get install -y poppler-utils"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class Loaded:
    """A report source holding data already loaded (the report needs no store)."""

    data: ReviewData

    def review(self) -> ReviewData:
        return self.data
