"""Pre-training data: corpus → packed TFRecord shards (`build_pretraining_data`: `shard_plan`, `corpus_blocks`,
`shard_pipeline`, `packing`, `example_records`), their record schema (`schema`) and the `tf.data` reader
(`pretraining_dataset`)."""
