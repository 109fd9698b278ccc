"""The competition's files: the digits CSV format, loading and splitting the rows, and where
`make data` gets the files (sources/: the offline replica or Kaggle)."""
