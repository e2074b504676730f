"""Charge capture: turns expected charges into FT1 lines queued for their posting dates.

Clean charging posts one `CG` line per expected-charge key (quantity = documented quantity,
unit = chargemaster price of the service date, extended = quantity x unit) 0-2 days after
service. About 1% of keys show a charge correction instead: a `CG` with the wrong performing
provider, its full `CD` credit and a fresh correct `CG`, all in the same posting file, so the net
always equals the documentation and no two `CG` lines are identical.
"""

from __future__ import annotations

import datetime as dt
import random

from .masterdata import CdmEntry, Facility
from .model import ChargeLine, ExpectedKey, FacilityState, Visit

DAY = dt.timedelta(days=1)
CORRECTION_RATE = 0.01


def normal_lag(rng: random.Random) -> int:
    """Posting lag of a clean charge: 0 (50%), 1 (35%) or 2 (15%) days."""
    r = rng.random()
    return 0 if r < 0.5 else (1 if r < 0.85 else 2)


class ChargeDesk:
    """Builds charge lines and queues them; lines posting after the last day are never made."""

    def __init__(self, end: dt.date) -> None:
        self.end = end

    @staticmethod
    def gl_target(fac: Facility, cdm: CdmEntry, dept: str,
                  service: dt.date) -> tuple[str, str] | None:
        """(cost center, revenue account) of a line; None when department or code won't map."""
        cc = fac.cost_centers.get(dept)
        if cc is None or not cdm.active_on(service):
            return None
        return cc, cdm.gl_account

    def line(self, v: Visit, cdm: CdmEntry, service: dt.date, ttype: str, qty: int,
             unit, dept: str, perf: str, order_no: str, modifiers: str = "",
             ndc: str = "") -> ChargeLine:
        """A charge line of visit `v` (extended = qty x unit)."""
        return ChargeLine(v, cdm, service, ttype, qty, unit, unit * qty, dept, perf, v.attending,
                          order_no, modifiers, ndc, self.gl_target(v.fac, cdm, dept, service))

    def queue(self, fs: FacilityState, line: ChargeLine, post: dt.date) -> bool:
        """Queue a line for its posting date; False (dropped) when that is after the range."""
        if post > self.end:
            return False
        fs.pending.setdefault(post, []).append(line)
        return True

    def key_line(self, v: Visit, key: ExpectedKey, service: dt.date, ttype: str = "CG",
                 qty: int | None = None, unit=None, perf: str | None = None) -> ChargeLine:
        """The line charging an expected key (overridable quantity, unit and performer)."""
        return self.line(v, key.cdm, service, ttype, key.qty if qty is None else qty,
                         key.cdm.price_on(service) if unit is None else unit, key.dept,
                         key.perf if perf is None else perf, key.order_no,
                         "~".join(key.modifiers), key.ndc)

    def clean_key(self, fs: FacilityState, v: Visit, key: ExpectedKey, service: dt.date,
                  lag: int, rng: random.Random) -> dt.date:
        """Charge a key the clean way (sometimes as a same-file correction); returns post date."""
        post = service + lag * DAY
        if key.plain and rng.random() < CORRECTION_RATE:
            pool = v.fac.providers.get(key.dept) or v.fac.providers["LAB"]
            wrong = next((npi for npi in pool if npi != key.perf), key.perf + "0")
            self.queue(fs, self.key_line(v, key, service, perf=wrong), post)
            self.queue(fs, self.key_line(v, key, service, "CD", perf=wrong), post)
        self.queue(fs, self.key_line(v, key, service), post)
        return post
