SELECT facility, ready_to_close FROM report.close_runs WHERE period = $period ORDER BY facility
