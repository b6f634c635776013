"""Valid identifiers for test files (check digits computed, not copied)."""


def isbn13(n: int) -> str:
    body = f"978{n:09d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def csv_text(header: str, *rows: str, newline: str = "\n") -> str:
    return newline.join((header, *rows)) + newline
