"""The charge reader's fast paths give the values of the generic field access, on any FT1.

`read_charges` reads a plain FT1 segment with one pick of its fields and one search; this
compares every row with the field-by-field reading through `Message.value` (escapes,
repetitions, components, subcomponents, missing fields, other encoding characters).
"""

from __future__ import annotations

import io
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.formats.hl7v2 import Message, _segments, hl7_date, read_charges

ENCODINGS = ["|^~\\&", "|^~\\&", "#!$%@", "|^~\\"]
PLAIN = ["", "A", "12", "20261005", "2026100", "104.75", "é", " "]
NASTY = ["^", "~", "&", "\\", "\\T\\", "\\F\\", "\\X41\\", "\\.br\\", "X^Y", "X^", "^Y", "A~B",
         "A&B", "A^B~C", "#", "!", "$", "%", "@", "310044^XR CHEST^CDM", "A^^C", "A!B!C"]
CDM = ["310044^XR CHEST^CDM", "310044^XR CHEST", "310044", "^DESC", "A!B!C", "310044^", "", "X^Y~Z"]
# mostly plain fields (the fast paths), now and then an encoding character anywhere
FIELD = st.one_of(st.sampled_from(PLAIN * 12 + NASTY),
                  st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
                          max_size=6))


@st.composite
def ft1_fields(draw) -> list[str]:
    fields = draw(st.lists(FIELD, min_size=0, max_size=32))
    if len(fields) > 6 and draw(st.booleans()):
        fields[6] = draw(st.sampled_from(CDM))  # FT1-7 (fields[0] is FT1-1)
    return fields


def _reference(msg: Message, ft1: list[str], position: int) -> dict:
    """The row as the generic field access reads it (the reader before its fast paths)."""
    plain = (1, 2, 4, 5, 6, 10, 11, 12, 13, 20, 21, 23, 25, 29)
    v = [msg.value(ft1, n) for n in plain]
    row = (v[0], v[1], hl7_date(v[2]), hl7_date(v[3]), v[4], msg.value(ft1, 7, 1),
           msg.value(ft1, 7, 2), *v[5:13], "~".join(msg.repetitions(ft1, 26)) or None, v[13],
           f"FT1 #{position + 1}")
    names = ["ft1_set_id", "transaction_id", "service_date", "post_date", "txn_type", "cdm_code",
             "cdm_description", "quantity", "extended_amount", "unit_amount", "department_code",
             "performing_npi", "ordering_npi", "order_number", "cpt_hcpcs", "modifiers", "ndc",
             "_locator"]
    return dict(zip(names, row, strict=True))


def _none(value: object) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


@settings(max_examples=300, deadline=None)
@given(enc=st.sampled_from(ENCODINGS),
       ft1s=st.lists(ft1_fields(), min_size=1, max_size=4))
def test_fast_paths_read_what_the_generic_access_reads(tmp_path_factory, enc, ft1s):
    sep = enc[0]
    msh = f"MSH{enc}{sep}EHR{sep}NORTH{sep}CL{sep}NORTH{sep}202610052300{sep}{sep}DFT^P03{sep}C1"
    pv1 = f"PV1{sep}1{sep}I{sep}MED^1^A^NORTH"
    segments = [msh, pv1] + [sep.join(["FT1", *(f.replace(sep, "") for f in fields)])
                             for fields in ft1s]
    path = tmp_path_factory.mktemp("fast") / "DFT_NORTH_20261005.hl7"
    path.write_bytes(("\r".join(segments) + "\n").encode())
    rows = [row for batch in read_charges(path) for row in batch.frame.to_dict("records")]
    msg = Message(1, segments)
    expected = [_reference(msg, ft1, i) for i, ft1 in enumerate(msg.all("FT1"))]
    got = [{k: _none(v) for k, v in row.items() if k in expected[0]} for row in rows]
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(text=st.lists(st.sampled_from(["A", "B", "\r", "\n", "\r\n", " ", "é"]), max_size=60).map("".join),
       chunk=st.integers(1, 9))
def test_segments_read_in_chunks_are_the_lines(text, chunk):
    data = text.encode()

    def handle() -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None)

    assert list(_segments(handle(), chunk)) == [line.rstrip("\n") for line in handle()]
