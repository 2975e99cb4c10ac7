"""The SQL that sums labels per confidence bin: one fragment, read by the per-day sums' upkeep
(services) and by the queries over labels (selectors), so both bin and weigh exactly alike, and as
calibration.metrics does in Python (bin_of, sums_of)."""

# Per bin: width_bucket numbers [0, 0.1) 1 … [0.9, 1.0) 10 and 1.0 itself 11, folded into 10.
BIN = "LEAST(width_bucket(l.confidence, 0, 1, 10), 10)"

# The BinSums columns, in order, over labels `l` (w = 1/p, y = 1 when right, d = c − y).
_W, _Y = "(1.0 / l.probability)", "(CASE WHEN l.correct THEN 1.0 ELSE 0.0 END)"
_D = f"(l.confidence - {_Y})"
SUMS = ", ".join(
    [
        "count(*)",
        "count(*) FILTER (WHERE l.verdict = 'modified')",
        f"sum({_W})",
        f"sum({_W} * l.confidence)",
        f"sum({_W} * {_Y})",
        f"sum({_W} * {_D} * {_D})",
        f"sum({_W} * {_W})",
        f"sum({_W} * {_W} * {_D})",
        f"sum({_W} * {_W} * {_D} * {_D})",
    ]
)
COLUMNS = ("n", "modified", "w", "wc", "wy", "wb", "w2", "w2d", "w2dd")
