"""Fine-tuning on the KoELECTRA benchmark tasks and on users' own TSV/CSV files.

`tasks.get_task(name)` → a `Task` (reader, featurizer, loss, metric, prediction writer);
`config.load_hparams(config_file, task, overrides)` → the `FinetuneHparams`;
`run.finetune(task, hparams, init_checkpoint, data_dir, output_dir)` runs a whole fine-tuning;
`metrics` holds the scoring functions; `squad` the KorQuAD windows and answer decoding;
`tfds_builders` TFDS builders reading the same files from a manual_dir.
"""
