"""Weight file formats: transformers HDF5, PyTorch (safetensors/bin), original ELECTRA TF1 checkpoints."""
