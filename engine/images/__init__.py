"""Image files in and out: input hygiene (input), stored uploads, PNG output with A1111 metadata (output), the model-
file hashes it names, contact sheets."""
