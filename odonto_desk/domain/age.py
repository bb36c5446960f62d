"""A person's age in whole years on a day: what the header shows and the dentition defaults by."""

from __future__ import annotations

import datetime as dt


def age_on(birth: dt.date | None, today: dt.date) -> int | None:
    """Completed years on ``today``; a birthday on 29 February is reached on 1 March in other years."""
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
