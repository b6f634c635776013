"""The downloadable claims template (issue 20): a CSV with every column and a sample row, and a guide to the columns
in Japanese, each in UTF-8 (with a byte-order mark) or CP932, so that spreadsheet software in Japan opens it as is.

The sample row is itself a valid claims row (tests import it), written the way people in Japan fill a spreadsheet:
Japanese labels for kind and consent, an ISBN without its scheme, an Excel date.
"""
from __future__ import annotations

import codecs
import csv
import io

from .reading import COLUMNS

ENCODINGS = {"utf-8": ("utf-8", "utf-8"), "cp932": ("cp932", "Windows-31J")}

# column -> (required, what it holds, an example), in Japanese (claims-csv.md "Columns").
COLUMN_GUIDE = {
    "holder": ("必須", "作品を持つ権利者のコード(自社、または委任を受けている委任元)", "studio-kaze"),
    "work_ref": ("必須(scope が catalogue の行は空)",
                 "自社の作品番号。holder と組で作品を特定し、同じ番号は更新になります", "KZ-0001"),
    "title": ("新しい作品は必須", "作品のタイトル", "風の谷の物語"),
    "original_title": ("任意", "原題", "Kaze no Tani"),
    "kind": ("任意(既定: other)", "作品の種類。コードか管理画面の表示名 (映画、漫画、書籍…)", "映画"),
    "identifiers": ("任意", "識別子を ; で区切って。ISBN・URL・DOI などは種類名を省略可 (isbn:… と書いても可)",
                    "9784991234156;https://studio-kaze.example/works/1"),
    "purpose": ("任意(空なら宣言なし)", "利用目的を ; で区切って: tdm, train-ai, train-genai, ai-use, search "
                                       "(表示名でも可)", "train-ai;search"),
    "jurisdiction": ("任意(既定: *)", "法域を ; で区切って: 国コード (JP など)、EU、* (すべて)", "JP;EU"),
    "consent": ("purpose があれば必須", "許諾 (grant / opt-in) または 留保 (reserve / opt-out)", "留保"),
    "scope": ("任意(既定: work)", "work はこの作品、catalogue は権利者のすべての作品", "work"),
    "effective_from": ("任意", "効力の開始日時 (2026/4/1、2026/04/01 9:00、ISO 8601)。時刻なしはその日の 0 時",
                       "2026/4/1"),
    "effective_until": ("任意", "効力の終了日時(この日時を含まない)", ""),
    "license_url": ("任意", "許諾の問い合わせ先 URL (http/https)", "https://studio-kaze.example/licensing"),
    "conditions": ("任意", "条件(自由記述)", "商用利用は要相談"),
}


def _encoded(rows, encoding: str) -> bytes:
    codec = ENCODINGS[encoding][0]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    data = out.getvalue().encode(codec)
    return codecs.BOM_UTF8 + data if codec == "utf-8" else data


def claims_template_csv(*, encoding: str, holder_code: str = "") -> bytes:
    """The header with every column and one sample row (as `holder_code`, when given)."""
    sample = [COLUMN_GUIDE[name][2] for name in COLUMNS]
    if holder_code:
        sample[COLUMNS.index("holder")] = holder_code
    return _encoded([COLUMNS, sample], encoding)


def claims_template_guide_csv(*, encoding: str) -> bytes:
    """What each column means, in Japanese: 列名, 必須, 内容, 例."""
    return _encoded([("列名", "必須", "内容", "例"), *((name, *COLUMN_GUIDE[name]) for name in COLUMNS)], encoding)


def content_type(encoding: str) -> str:
    return f"text/csv; charset={ENCODINGS[encoding][1]}"
