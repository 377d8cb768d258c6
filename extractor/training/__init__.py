"""Training: what both engines share, and LoRA tuning of the LLM.

    examples.py  Example (a text, its gold record, its schema) and the reader of a user's training
                 file in the shots layout ({"text", "record"} lines); the bottom of training
    augment.py   synthetic variants whose text and record still agree (LoRA tuning and the tagger)
    lora/        LoRA / QLoRA instruction tuning: config, data, prepare, loop, validation, checkpoint

The tagger's own training loop is ``extractor.tagger.train``. Importing this package is cheap:
torch, transformers and peft load only inside the functions that train."""
