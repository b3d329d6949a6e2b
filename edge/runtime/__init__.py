"""Running the pipeline: replay of recordings and the live edge daemon."""
