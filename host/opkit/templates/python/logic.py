"""The operator's logic as plain Python, so it can be tested with
`python3 -m unittest` without building a component."""


def rows_at_least(values, minimum):
    """Indexes of the rows whose value is at least `minimum`."""
    return [i for i, v in enumerate(values) if v >= minimum]
