"""The month-end close package: report tables, Excel workbook and HTML report."""
