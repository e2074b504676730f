"""Format readers: each turns one landed file into batches of string rows with row numbers."""
