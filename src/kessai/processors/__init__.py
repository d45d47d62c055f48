"""Payment processors: the interface (`base.Processor`) and its implementations."""
