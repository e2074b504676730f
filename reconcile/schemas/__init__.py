"""pandera schemas, one DataFrameModel per staging table, over the readers' string columns."""
