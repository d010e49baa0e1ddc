"""The LoRA trainer: a dataset and a config in, progress and checkpoints out (no Discord, no SQL).

`types` holds the plain data that crosses the engine seam; `recipes` what differs per model family;
`data` the prepared, cached dataset; `checkpoint` exact save and resume; `trainer` the loop;
`export` the files other tools read.
"""
