"""Console scripts: argv and config in, one call out. The only place that knows Hydra's entry point."""
