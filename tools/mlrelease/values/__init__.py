"""Values files and the Helm engine: YAML that Helm reads back as written, the values writer,
the per-build values of the training and scoring charts, and in-process rendering."""
