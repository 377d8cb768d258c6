"""LoRA / QLoRA instruction tuning for extraction (``extractor finetune``).

    config.py      FinetuneConfig (one typed dataclass, loadable from YAML) and load_finetune_config
    data.py        training and validation files -> examples; examples -> training rows; batches
    prepare.py     everything training needs before the first step; the dry run
    loop.py        the training loop (finetune) and the saved adapter
    validation.py  the real extraction path on held-out offers; null-bias calibration
    checkpoint.py  resumable checkpoints

Nothing is imported here, so that ``extractor.training.lora.config`` stays cheap for the CLI."""
