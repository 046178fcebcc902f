"""Pre-training data: corpus → packed TFRecord shards (`build_pretraining_data`) and the `tf.data` reader
(`pretraining_dataset`)."""
