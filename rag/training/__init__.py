"""Training the reader (rag/reader/ is what answers use): its data, the base weights' pack, the training command
and the reader's own figures on held-out questions."""
