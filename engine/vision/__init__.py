"""The helper models and pixel readers: captioner, embedder, masks (segmenter), rewriter (a language model for /vary and
/edit prompts), pixel_reading, and their catalog."""
