"""DataFrameModels of the feeds, over string columns as the readers yield them.

Types are checked as text (dates, timestamps, decimals) so amounts never pass through floats;
DuckDB casts the validated text into DECIMAL/DATE/TIMESTAMP on insert. Columns are Arrow-backed
strings (`string[pyarrow]`, records.TEXT, as the readers yield them): the dtype check is one
comparison, and null and regex checks run in Arrow's kernels instead of element by element.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from reconcile.schemas.checks import (
    amount_field,
    date_field,
    equals,
    first_occurrence,
    ordered,
    quantity_field,
    timestamp_field,
)

Text = Annotated[pd.StringDtype, "pyarrow", pd.NA]  # records.TEXT

ADT_EVENTS = ["A01", "A03", "A04", "A08", "A11", "A13"]
PATIENT_CLASSES = ["I", "O", "E", "R", "P", "B", "N", "U"]  # HL7 table 0004
FACILITY = r"^[A-Z0-9][A-Z0-9_-]{0,15}$"
NPI = r"^\d{10}$"


class _Strict(pa.DataFrameModel):
    row_number: Series[int] = pa.Field(ge=1)

    class Config:
        strict = "filter"  # columns the model does not name are dropped, not an error
        coerce = False


class AdtEvent(_Strict):
    message_control_id: Series[Text] = pa.Field(nullable=False)
    message_type: Series[Text] = pa.Field(str_matches=r"^ADT\^A\d\d$")
    event_type: Series[Text] = pa.Field(isin=ADT_EVENTS)
    message_at: Series[Text] = timestamp_field()
    event_at: Series[Text] = timestamp_field(nullable=True)
    mrn: Series[Text] = pa.Field(nullable=False)
    account_number: Series[Text] = pa.Field(nullable=True)
    patient_class: Series[Text] = pa.Field(nullable=True, isin=PATIENT_CLASSES)
    location_unit: Series[Text] = pa.Field(nullable=True)
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    hospital_service: Series[Text] = pa.Field(nullable=True)
    visit_number: Series[Text] = pa.Field(nullable=False)
    admit_at: Series[Text] = timestamp_field(nullable=True)
    discharge_at: Series[Text] = timestamp_field(nullable=True)

    @pa.dataframe_check(name="discharge_after_admit",
                        error="discharge_at: discharge time (PV1-45) is before admit time (PV1-44)")
    def discharge_after_admit(cls, df: pd.DataFrame) -> pd.Series:
        return ordered(df["discharge_at"], df["admit_at"])

    @pa.dataframe_check(name="unique_message_control_id",
                        error="message_control_id: duplicate of an earlier row on (message_control_id)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["message_control_id"])


class Charge(_Strict):
    message_control_id: Series[Text] = pa.Field(nullable=False)
    message_type: Series[Text] = pa.Field(str_matches=r"^DFT\^P0[36]$")
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    visit_number: Series[Text] = pa.Field(nullable=False)
    mrn: Series[Text] = pa.Field(nullable=True)
    account_number: Series[Text] = pa.Field(nullable=True)
    ft1_set_id: Series[Text] = pa.Field(nullable=True, str_matches=r"^\d{1,6}$")
    transaction_id: Series[Text] = pa.Field(nullable=False)
    service_date: Series[Text] = date_field()
    post_date: Series[Text] = date_field()
    txn_type: Series[Text] = pa.Field(isin=["CG", "CD"])
    cdm_code: Series[Text] = pa.Field(nullable=False)
    cdm_description: Series[Text] = pa.Field(nullable=True)
    quantity: Series[Text] = quantity_field()
    extended_amount: Series[Text] = amount_field()
    unit_amount: Series[Text] = amount_field(nullable=True)
    department_code: Series[Text] = pa.Field(nullable=False)
    performing_npi: Series[Text] = pa.Field(nullable=True, str_matches=NPI)
    ordering_npi: Series[Text] = pa.Field(nullable=True, str_matches=NPI)
    order_number: Series[Text] = pa.Field(nullable=True)
    cpt_hcpcs: Series[Text] = pa.Field(nullable=True)
    modifiers: Series[Text] = pa.Field(nullable=True)
    ndc: Series[Text] = pa.Field(nullable=True, str_matches=r"^\d{10,11}$")

    @pa.dataframe_check(name="post_on_or_after_service",
                        error="post_date: posting date (FT1-5) is before service date (FT1-4)")
    def post_after_service(cls, df: pd.DataFrame) -> pd.Series:
        return ordered(df["post_date"], df["service_date"])

    @pa.dataframe_check(name="unique_facility_transaction_id",
                        error="transaction_id: duplicate of an earlier row on (facility, transaction_id)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["facility", "transaction_id"])


class Procedure(_Strict):
    resource_id: Series[Text] = pa.Field(nullable=False)
    status: Series[Text] = pa.Field(isin=["preparation", "in-progress", "not-done", "on-hold",
                                         "stopped", "completed", "entered-in-error", "unknown"])
    cpt_code: Series[Text] = pa.Field(nullable=True)
    cdm_code: Series[Text] = pa.Field(nullable=True)
    mrn: Series[Text] = pa.Field(nullable=True)
    visit_number: Series[Text] = pa.Field(nullable=False)
    performed_at: Series[Text] = timestamp_field()
    performer_npi: Series[Text] = pa.Field(nullable=True, str_matches=NPI)
    department_code: Series[Text] = pa.Field(nullable=True)
    facility: Series[Text] = pa.Field(str_matches=FACILITY)

    @pa.dataframe_check(name="completed_has_code",
                        error="cdm_code: a completed Procedure carries neither a CPT nor a CDM coding")
    def completed_has_code(cls, df: pd.DataFrame) -> pd.Series:
        return ~equals(df["status"], "completed") | df["cpt_code"].notna() | df["cdm_code"].notna()

    @pa.dataframe_check(name="unique_resource_id",
                        error="resource_id: duplicate of an earlier row on (resource_id)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["resource_id"])


class MedAdministration(_Strict):
    resource_id: Series[Text] = pa.Field(nullable=False)
    status: Series[Text] = pa.Field(isin=["in-progress", "not-done", "on-hold", "completed",
                                         "entered-in-error", "stopped", "unknown"])
    ndc: Series[Text] = pa.Field(nullable=True, str_matches=r"^\d{10,11}$")
    mrn: Series[Text] = pa.Field(nullable=True)
    visit_number: Series[Text] = pa.Field(nullable=False)
    effective_at: Series[Text] = timestamp_field()
    dose_value: Series[Text] = quantity_field(nullable=True)
    dose_unit: Series[Text] = pa.Field(nullable=True)
    order_number: Series[Text] = pa.Field(nullable=True)
    department_code: Series[Text] = pa.Field(nullable=True)
    facility: Series[Text] = pa.Field(str_matches=FACILITY)

    @pa.dataframe_check(name="completed_has_drug_and_dose",
                        error="ndc: a completed MedicationAdministration needs an NDC and a dose")
    def completed_has_drug(cls, df: pd.DataFrame) -> pd.Series:
        done = equals(df["status"], "completed")
        return ~done | (df["ndc"].notna() & df["dose_value"].notna())

    @pa.dataframe_check(name="unique_resource_id",
                        error="resource_id: duplicate of an earlier row on (resource_id)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["resource_id"])


class CaseSupply(_Strict):
    case_id: Series[Text] = pa.Field(nullable=False)
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    visit_number: Series[Text] = pa.Field(nullable=False)
    documented_at: Series[Text] = timestamp_field()
    department_code: Series[Text] = pa.Field(nullable=False)
    item_id: Series[Text] = pa.Field(nullable=False)
    quantity: Series[Text] = quantity_field()
    implant_flag: Series[Text] = pa.Field(isin=["Y", "N"])
    serial_number: Series[Text] = pa.Field(nullable=True)


class ItemMaster(_Strict):
    item_id: Series[Text] = pa.Field(nullable=False)
    description: Series[Text] = pa.Field(nullable=True)
    unit: Series[Text] = pa.Field(nullable=True)
    unit_cost: Series[Text] = amount_field(nullable=True)
    category: Series[Text] = pa.Field(nullable=True)
    chargeable: Series[Text] = pa.Field(isin=["Y", "N"])
    implant: Series[Text] = pa.Field(isin=["Y", "N"])
    cdm_code: Series[Text] = pa.Field(nullable=True)
    hcpcs: Series[Text] = pa.Field(nullable=True)
    status: Series[Text] = pa.Field(isin=["A", "I"])

    @pa.dataframe_check(name="chargeable_has_cdm", error="cdm_code: a chargeable item (Y) needs a cdm_code")
    def chargeable_has_cdm(cls, df: pd.DataFrame) -> pd.Series:
        return ~equals(df["chargeable"], "Y") | df["cdm_code"].notna()

    @pa.dataframe_check(name="unique_item_id",
                        error="item_id: duplicate of an earlier row on (item_id)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["item_id"])


class Chargemaster(_Strict):
    cdm_code: Series[Text] = pa.Field(nullable=False)
    description: Series[Text] = pa.Field(nullable=True)
    revenue_code: Series[Text] = pa.Field(nullable=True, str_matches=r"^\d{3,4}$")
    cpt_hcpcs: Series[Text] = pa.Field(nullable=True)
    ndc: Series[Text] = pa.Field(nullable=True, str_matches=r"^\d{10,11}$")
    department_code: Series[Text] = pa.Field(nullable=True)
    unit_price: Series[Text] = amount_field()
    gl_revenue_account: Series[Text] = pa.Field(str_matches=r"^\d{4}$")
    effective_from: Series[Text] = date_field()
    effective_to: Series[Text] = date_field(nullable=True)
    status: Series[Text] = pa.Field(isin=["A", "I"])

    @pa.dataframe_check(name="effective_range_ordered",
                        error="effective_to: effective_to is before effective_from")
    def effective_range(cls, df: pd.DataFrame) -> pd.Series:
        return ordered(df["effective_to"], df["effective_from"])

    @pa.dataframe_check(name="unique_cdm_code_effective_from",
                        error="cdm_code: duplicate of an earlier row on (cdm_code, effective_from)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["cdm_code", "effective_from"])


class DepartmentMap(_Strict):
    source_system: Series[Text] = pa.Field(nullable=False)
    source_department_code: Series[Text] = pa.Field(nullable=False)
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    cost_center: Series[Text] = pa.Field(str_matches=r"^[A-Za-z0-9]{1,10}$")

    @pa.dataframe_check(
        name="unique_department_key",
        error="source_department_code: duplicate of an earlier row on "
        "(source_system, source_department_code, facility)",
    )
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["source_system", "source_department_code", "facility"])


class CabinetTransaction(_Strict):
    txn_id: Series[Text] = pa.Field(nullable=False)
    txn_at: Series[Text] = timestamp_field()
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    cabinet_id: Series[Text] = pa.Field(nullable=False)
    txn_type: Series[Text] = pa.Field(isin=["V", "R", "W", "L", "U", "C"])
    visit_number: Series[Text] = pa.Field(nullable=True)
    mrn: Series[Text] = pa.Field(nullable=True)
    order_number: Series[Text] = pa.Field(nullable=True)
    ndc: Series[Text] = pa.Field(str_matches=r"^\d{10,11}$")
    drug_description: Series[Text] = pa.Field(nullable=True)
    quantity: Series[Text] = quantity_field()
    unit: Series[Text] = pa.Field(nullable=True)
    user_id: Series[Text] = pa.Field(nullable=True)
    witness_id: Series[Text] = pa.Field(nullable=True)

    @pa.dataframe_check(name="patient_txn_has_visit",
                        error="visit_number: a vend, return or waste (V/R/W) needs a visit number")
    def patient_txn_has_visit(cls, df: pd.DataFrame) -> pd.Series:
        return ~df["txn_type"].isin(["V", "R", "W"]) | df["visit_number"].notna()

    @pa.dataframe_check(name="unique_txn_id",
                        error="txn_id: duplicate of an earlier row on (facility, txn_id)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["facility", "txn_id"])


class InventoryTransaction(_Strict):
    txn_id: Series[Text] = pa.Field(nullable=False)
    txn_at: Series[Text] = timestamp_field()
    txn_type: Series[Text] = pa.Field(isin=["ISSUE", "RETURN", "RECEIPT", "ADJUST"])
    item_id: Series[Text] = pa.Field(nullable=False)
    quantity: Series[Text] = pa.Field(decimal_text={"scale": 3, "positive": False})
    unit: Series[Text] = pa.Field(nullable=True)
    unit_cost: Series[Text] = amount_field(nullable=True)
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    from_location: Series[Text] = pa.Field(nullable=True)
    department_code: Series[Text] = pa.Field(nullable=True)
    visit_number: Series[Text] = pa.Field(nullable=True)
    case_id: Series[Text] = pa.Field(nullable=True)

    @pa.dataframe_check(name="unique_txn_id",
                        error="txn_id: duplicate of an earlier row on (txn_id)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["txn_id"])


class GlJournalLine(_Strict):
    journal_id: Series[Text] = pa.Field(nullable=False)
    line_number: Series[Text] = pa.Field(str_matches=r"^\d{1,9}$")
    ledger: Series[Text] = pa.Field(nullable=True)
    period: Series[Text] = pa.Field(str_matches=r"^\d{4}-(0[1-9]|1[0-2])$")
    accounting_date: Series[Text] = date_field()
    posted_at: Series[Text] = timestamp_field(nullable=True)
    status: Series[Text] = pa.Field(isin=["POSTED", "UNPOSTED", "REVERSED"])
    source: Series[Text] = pa.Field(isin=["REVENUE_INTERFACE", "INVENTORY", "PAYROLL", "AP",
                                         "MANUAL"])
    account: Series[Text] = pa.Field(str_matches=r"^[A-Za-z0-9]+-[A-Za-z0-9]+-[A-Za-z0-9]+-"
                                                r"[A-Za-z0-9]+$")
    entity: Series[Text] = pa.Field(nullable=True)
    cost_center: Series[Text] = pa.Field(nullable=True)
    natural_account: Series[Text] = pa.Field(nullable=True)
    sub_account: Series[Text] = pa.Field(nullable=True)
    debit: Series[Text] = amount_field()
    credit: Series[Text] = amount_field()
    currency: Series[Text] = pa.Field(nullable=True, str_matches=r"^[A-Z]{3}$")
    reference: Series[Text] = pa.Field(nullable=True)
    description: Series[Text] = pa.Field(nullable=True)
    updated_at: Series[Text] = timestamp_field(nullable=True)

    @pa.dataframe_check(name="unique_journal_line",
                        error="line_number: duplicate of an earlier row on (journal_id, line_number)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["journal_id", "line_number"])


class CostCenter(_Strict):
    cost_center: Series[Text] = pa.Field(str_matches=r"^[A-Za-z0-9]{1,10}$")
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    name: Series[Text] = pa.Field(nullable=True)
    service_line: Series[Text] = pa.Field(nullable=True)
    natural_account_revenue: Series[Text] = pa.Field(nullable=True, str_matches=r"^\d{4}$")
    active: Series[Text] = pa.Field(isin=["true", "false", "TRUE", "FALSE", "1", "0", "Y", "N"])
    valid_from: Series[Text] = date_field(nullable=True)
    valid_to: Series[Text] = date_field(nullable=True)

    @pa.dataframe_check(name="unique_cost_center",
                        error="cost_center: duplicate of an earlier row on (cost_center, valid_from)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["cost_center", "valid_from"])


class BillingAccount(_Strict):
    visit_number: Series[Text] = pa.Field(nullable=False)
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    mrn: Series[Text] = pa.Field(nullable=True)
    account_number: Series[Text] = pa.Field(nullable=True)
    patient_class: Series[Text] = pa.Field(nullable=True, isin=PATIENT_CLASSES)
    admit_date: Series[Text] = date_field(nullable=True)
    discharge_date: Series[Text] = date_field(nullable=True)
    account_status: Series[Text] = pa.Field(isin=["OPEN", "DNFB", "BILLED", "CLOSED"])
    final_bill_date: Series[Text] = date_field(nullable=True)
    total_charges: Series[Text] = amount_field()

    @pa.dataframe_check(name="discharge_after_admit",
                        error="discharge_date: discharge date is before admit date")
    def discharge_after_admit(cls, df: pd.DataFrame) -> pd.Series:
        return ordered(df["discharge_date"], df["admit_date"])

    @pa.dataframe_check(name="unique_visit",
                        error="visit_number: duplicate of an earlier row on (facility, visit_number)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["facility", "visit_number"])


class Timecard(_Strict):
    timecard_id: Series[Text] = pa.Field(nullable=False)
    employee_id: Series[Text] = pa.Field(nullable=False)
    facility: Series[Text] = pa.Field(str_matches=FACILITY)
    cost_center: Series[Text] = pa.Field(str_matches=r"^[A-Za-z0-9]{1,10}$")
    work_date: Series[Text] = date_field()
    pay_code: Series[Text] = pa.Field(isin=["REG", "OT", "PTO", "CALL"])
    hours: Series[Text] = pa.Field(decimal_text={"scale": 2, "positive": False})
    hourly_rate: Series[Text] = amount_field()
    approved: Series[Text] = pa.Field(isin=["true", "false"])
    updated_at: Series[Text] = timestamp_field(nullable=True)

    @pa.dataframe_check(name="unique_timecard",
                        error="timecard_id: duplicate of an earlier row on (timecard_id)")
    def unique_key(cls, df: pd.DataFrame) -> pd.Series:
        return first_occurrence(df, ["timecard_id"])
