"""Status colours, office-wide and colour-blind safe (Okabe–Ito), each paired with a text cue."""

from __future__ import annotations

# chart status code → (colour, short label). The label is always shown too: colour is never the
# only cue.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "tp": ("#D55E00", "TP"),  # vermillion: treatment planned
    "c": ("#0072B2", "C"),  # blue: completed
    "ec": ("#56B4E9", "EC"),  # sky blue: existing, this practice
    "eo": ("#009E73", "EO"),  # bluish green: existing, other provider
    "r": ("#CC79A7", "R"),  # reddish purple: referred
    "cn": ("#E69F00", "Cn"),  # orange: condition
}
