"""Chat and completion generation: input validation, prompt assembly, the run pipeline."""
