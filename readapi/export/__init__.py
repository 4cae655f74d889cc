"""Download your data: the zip of a person's data, streamed from the views and blob stores."""
