"""The runners: corpora, mining, ingest and evaluation; they join the model, the algorithm and the store."""
